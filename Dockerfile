# syntax=docker/dockerfile:1
# Picbucket container: Cloud Run in production, or `docker run` on one machine.
# Build:  docker build -t picbucket .
# Run:    see docs/deploy.md ("Running the container on one machine").

# --- build: resolve and install the pinned runtime dependencies into a venv ----------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

# Dependencies first, in their own layer: it is rebuilt only when requirements.txt
# changes, not on every code edit. requirements.txt is runtime only; the local identity
# provider and the test tools (requirements-local.txt, requirements-dev.txt) stay out.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# Then the package itself; --no-deps because the exact pins above are the dependency set.
COPY pyproject.toml /src/pyproject.toml
COPY src /src/src
RUN pip install --no-cache-dir --no-deps /src

# --- runtime: the venv, the templates and static files, nothing else ----------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=8080 \
    PICBUCKET_DATA_DIR=/data

# A fixed, unprivileged uid/gid so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 picbucket \
    && useradd --system --uid 10001 --gid picbucket --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin picbucket \
    && mkdir -p /data \
    && chown picbucket:picbucket /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Code and assets are owned by root and read-only to the app user.
COPY templates /app/templates
COPY static /app/static
COPY gunicorn.conf.py /app/gunicorn.conf.py

# Local backends (SQLite + files) keep their data here on a single-machine install;
# on Cloud Run the GCS and Firestore backends are used and this stays empty.
VOLUME ["/data"]

USER 10001:10001
EXPOSE 8080

# Cloud Run uses its own startup/liveness probes (terraform/run.tf); this one serves
# `docker run` and Compose. The slim image has no curl, so Python does the request.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "picbucket:create_app()"]
