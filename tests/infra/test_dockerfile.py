"""The Dockerfile and .dockerignore, read statically (no Docker engine here)."""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START_COMMAND = ["gunicorn", "--config", "gunicorn.conf.py", "picbucket:create_app()"]


@dataclass
class Stage:
    """One FROM ... stage: its base image and its instructions, in order."""

    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def index(self, keyword: str, needle: str) -> int:
        for i, (kw, args) in enumerate(self.instructions):
            if kw == keyword and needle in args:
                return i
        raise AssertionError(f"no {keyword} with {needle!r} in stage {self.name}")


def parse_dockerfile(text: str) -> list[Stage]:
    """Split a Dockerfile into stages of (KEYWORD, arguments), joining continuations."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(base=parts[0], name=name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_multi_stage_on_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    for stage in stages:
        assert stage.base == "python:3.11-slim", stage.base


def test_runs_as_non_root(final: Stage) -> None:
    users = final.args("USER")
    assert users, "final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert final.index("USER", users[-1]) < final.index("CMD", "gunicorn")


def test_starts_gunicorn_with_the_config_file(final: Stage) -> None:
    assert json.loads(final.args("CMD")[-1]) == START_COMMAND
    assert not final.args("ENTRYPOINT")
    assert (ROOT / "gunicorn.conf.py").is_file()


def test_dependencies_install_before_the_code_is_copied(stages: list[Stage]) -> None:
    build = stages[0]
    deps = build.index("RUN", "-r /tmp/requirements.txt")
    assert build.index("COPY", "requirements.txt") < deps
    assert deps < build.index("COPY", "src")
    package = build.index("RUN", "--no-deps")
    assert package > build.index("COPY", "src")


def test_only_runtime_requirements_are_installed(stages: list[Stage]) -> None:
    for stage in stages:
        for keyword, args in stage.instructions:
            assert "requirements-local" not in args, f"{keyword} {args}"
            assert "requirements-dev" not in args, f"{keyword} {args}"
    runs = " ".join(stages[0].args("RUN"))
    assert "--no-cache-dir" in runs


def test_final_image_has_no_build_context_tests_or_tools(final: Stage) -> None:
    copies = final.args("COPY")
    for args in copies:
        assert not args.startswith(". "), "COPY . pulls in the whole context"
        assert "tests" not in args
    assert not [r for r in final.args("RUN") if "pip install" in r or "apt-get" in r]
    assert any("--from=build /opt/venv" in c for c in copies)


def test_app_layout_and_data_volume(final: Stage) -> None:
    assert final.args("WORKDIR") == ["/app"]
    copies = final.args("COPY")
    for target in ("templates /app/templates", "static /app/static", "gunicorn.conf.py /app/"):
        assert any(target in c for c in copies), target
    env = " ".join(final.args("ENV"))
    assert "PICBUCKET_DATA_DIR=/data" in env
    assert "PORT=8080" in env
    assert final.args("VOLUME") == ['["/data"]']
    assert "8080" in final.args("EXPOSE")


def test_healthcheck_uses_healthz(final: Stage) -> None:
    (check,) = final.args("HEALTHCHECK")
    assert "/healthz" in check


def _ignored(patterns: list[str], path: str) -> bool:
    """Apply .dockerignore rules (last match wins) to a context-relative path."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(
            path, pattern.replace("**/", "*")
        ):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_image_needs() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for needed in (
        "requirements.txt",
        "pyproject.toml",
        "gunicorn.conf.py",
        "src/picbucket/__init__.py",
        "templates/base.html",
        "static/app.css",
    ):
        assert not _ignored(patterns, needed), needed
    for secret_or_bulky in (
        ".git/config",
        ".venv/bin/python",
        "var/picbucket.sqlite3",
        "terraform/terraform.tfvars",
        "terraform/.terraform/x",
        "tests/test_x.py",
        ".env",
        "requirements-dev.txt",
        "src/picbucket/__pycache__/app.cpython-311.pyc",
    ):
        assert _ignored(patterns, secret_or_bulky), secret_or_bulky


def test_hadolint_is_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
