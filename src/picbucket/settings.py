"""Configuration: every ``PICBUCKET_*`` variable, read once and validated.

The README's configuration table lists the same variables; keep them in step.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import limits

GOOGLE_ISSUER = "https://accounts.google.com"
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production

MIB = 1024 * 1024


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message says what to set."""


# Whole-number settings and the range each may take (inclusive). Bounds are generous
# but catch typos (a missing digit, a unit mixed up) before they reach production.
INT_RANGES: dict[str, tuple[int, int]] = {
    "max_upload_mb": (1, 31),
    "max_direct_upload_mb": (1, 5120),
    "max_pixels": (1, 500_000_000),
    "max_frames": (1, 10_000),
    "quota_mb": (1, 100_000_000),
    "quota_images": (1, 100_000_000),
    "page_size": (1, 200),
    "trash_days": (1, 3650),
    "proxy_hops": (0, 5),
    "decode_budget_mb": (64, 1_048_576),
    "max_files_per_request": (1, 200),
    "breaker_failures": (1, 1000),
    "min_free_disk_mb": (0, 10_000_000),
    "export_stream_max_mb": (0, 10_000_000),
    "export_keep_days": (1, 365),
}
FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "records_deadline_seconds": (0.1, 300.0),
    "blobs_deadline_seconds": (0.1, 600.0),
    "breaker_cooldown_seconds": (0.1, 600.0),
    "decode_wait_seconds": (0.0, 60.0),
}
RATE_LIMITS = ("rate_limit_sign_in", "rate_limit_upload", "rate_limit_api")


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in value.split(",") if item.strip())


def _env_name(name: str) -> str:
    return f"PICBUCKET_{name.upper()}"


@dataclass(frozen=True)
class Settings:
    """Validated application settings; build with ``Settings.from_env()``."""

    env: Literal["development", "production"] = "development"
    secret_key: str = DEV_SECRET_KEY
    data_dir: Path = Path("var")

    # Which adapters wiring.py builds.
    blob_store: Literal["local", "gcs"] = "local"
    record_store: Literal["sqlite", "firestore"] = "sqlite"
    gcs_bucket: str = ""
    gcp_project: str = ""
    firestore_database: str = "(default)"
    # Service account that signs URLs through IAM signBlob when no key file is at hand.
    signing_service_account: str = ""
    # A service-account JSON key used only to sign URLs (local installs, emulators).
    # Leave empty on Cloud Run: IAM signBlob needs no key file.
    signing_key_file: str = ""
    # How share-link image bytes reach the viewer: streamed by the app, or a redirect
    # to a short-lived signed URL (GCS only). See README "Serving share links".
    share_delivery: Literal["proxy", "signed-url"] = "proxy"

    # Identity provider (OpenID Connect).
    oidc_issuer: str = GOOGLE_ISSUER
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    # True only for the local stand-in provider started by `make run` / tests.
    oidc_local: bool = False
    allowed_emails: tuple[str, ...] = ()
    allowed_domains: tuple[str, ...] = ()

    # Limits. 25 MiB stays under Cloud Run's 32 MiB request cap with multipart overhead.
    max_upload_mb: int = 25
    # Files above max_upload_mb go browser → bucket directly (GCS only), up to this.
    max_direct_upload_mb: int = 200
    # 50 MP decodes to 200 MB RGBA: the most one request may hold in memory.
    max_pixels: int = 50_000_000
    # Each animation frame is decoded and re-encoded; 300 frames bounds the CPU time.
    max_frames: int = 300
    quota_mb: int = 2048
    quota_images: int = 20_000
    page_size: int = 60
    # Deleted photos stay restorable (and charged) this long; reconcile purges them.
    trash_days: int = 30

    # Rate limits (Flask-Limiter syntax) and where their counters live.
    rate_limit_sign_in: str = "20 per minute"
    rate_limit_upload: str = "120 per minute"
    rate_limit_api: str = "600 per minute"
    rate_limit_storage: str = "memory://"

    # Number of proxies in front of the app whose X-Forwarded-For/-Proto are trusted.
    # X-Forwarded-Host/-Port/-Prefix never are: a client could choose them.
    proxy_hops: int = 0
    # The public origin (https://pics.example.com). When set, every external URL (share
    # links, the OAuth redirect URI, ShareX config, API image URLs) is built from it
    # instead of the request's Host header.
    service_url: str = ""
    log_level: str = "INFO"

    # Memory for decoding uploads at once, per process; uploads wait for their share.
    decode_budget_mb: int = 384
    # How long an upload waits for decode memory before a 503.
    decode_wait_seconds: float = 10.0
    # Files in one no-JavaScript form post.
    max_files_per_request: int = 20
    # People who may use the admin pages.
    admin_emails: tuple[str, ...] = ()

    # Backend deadlines (see resilience.py): the most one record-store or blob-store
    # call may take before the request gets 503 + Retry-After. Records are small
    # documents (milliseconds when healthy); blobs carry up to max_upload_mb.
    records_deadline_seconds: float = 10.0
    blobs_deadline_seconds: float = 30.0
    # After this many consecutive failures a backend is treated as down: calls fail at
    # once for breaker_cooldown_seconds, then one probe call is let through.
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 5.0
    # Local disk (data_dir): below this much free space /readyz reports it, and uploads
    # are refused before they would leave less than half of it (kept for deletes and
    # the SQLite journal). 0 turns both off.
    min_free_disk_mb: int = 256

    # "Export everything": streamed within the request, or (job) built in the background
    # into the blob store for accounts past export_stream_max_mb (README "Leaving").
    export_mode: Literal["stream", "job"] = "stream"
    # The Cloud Run job that builds exports (projects/<p>/locations/<r>/jobs/<name>);
    # empty: a thread of this process builds them (one machine, tests).
    export_job: str = ""
    # In job mode, accounts storing more than this stream no more: within the request
    # timeout only smaller ones finish.
    export_stream_max_mb: int = 256
    # A ready export's zip is kept this long, then reconcile deletes it.
    export_keep_days: int = 7

    @property
    def production(self) -> bool:
        """Tell whether production safety rules apply."""
        return self.env == "production"

    @property
    def service_origin(self) -> str:
        """Return the configured public origin without a trailing slash ("" if unset)."""
        return self.service_url.rstrip("/")

    @property
    def max_upload_bytes(self) -> int:
        """Return the largest file accepted through the app, in bytes."""
        return self.max_upload_mb * MIB

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, for_maintenance: bool = False
    ) -> Settings:
        """Read ``PICBUCKET_*`` variables, validate them, and return settings.

        ``for_maintenance``: for CLI commands (reconcile, backfills), which sign no one
        in, so production does not require the OAuth client (the Cloud Run job that
        runs them is deliberately given no client secret).
        """
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"PICBUCKET_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        if not values.get("gcp_project"):
            project = environ.get("GOOGLE_CLOUD_PROJECT", "")
            if project:
                values["gcp_project"] = project
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate(sign_in=not for_maintenance)
        return settings

    def validate(self, *, sign_in: bool = True) -> None:
        """Raise ``SettingsError`` with a one-line fix if the settings cannot work.

        ``sign_in=False`` skips the checks that only signing people in needs.
        """
        choices = {
            "env": ("development", "production"),
            "blob_store": ("local", "gcs"),
            "record_store": ("sqlite", "firestore"),
            "share_delivery": ("proxy", "signed-url"),
            "export_mode": ("stream", "job"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(
                    f"PICBUCKET_{name.upper()} must be one of {', '.join(allowed)}."
                )
        if self.blob_store == "gcs" and not self.gcs_bucket:
            raise SettingsError("Set PICBUCKET_GCS_BUCKET to use PICBUCKET_BLOB_STORE=gcs.")
        if self.share_delivery == "signed-url" and self.blob_store != "gcs":
            raise SettingsError(
                "PICBUCKET_SHARE_DELIVERY=signed-url needs PICBUCKET_BLOB_STORE=gcs."
            )
        if self.max_upload_mb > 31:
            raise SettingsError(
                "PICBUCKET_MAX_UPLOAD_MB must be at most 31: Cloud Run refuses bigger requests."
            )
        self._validate_ranges()
        self._validate_texts()
        if self.production:
            self._validate_production(sign_in=sign_in)

    def _validate_ranges(self) -> None:
        for name, (low, high) in {**INT_RANGES, **FLOAT_RANGES}.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(
                    f"{_env_name(name)} must be between {low:g} and {high:g}, not {value:g}."
                )

    def _validate_texts(self) -> None:
        if self.log_level.upper() not in logging.getLevelNamesMapping():
            raise SettingsError(
                f"PICBUCKET_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                f"not {self.log_level!r}."
            )
        for name in RATE_LIMITS:
            _check_rate_limit(name, getattr(self, name))
        scheme = self.rate_limit_storage.partition("://")[0]
        if "://" not in self.rate_limit_storage or scheme not in _SYNC_STORAGE_SCHEMES:
            raise SettingsError(
                "PICBUCKET_RATE_LIMIT_STORAGE must be a storage URI such as memory:// or "
                f"redis://host:6379, not {self.rate_limit_storage!r}."
            )
        if self.service_url:
            _check_origin(self.service_url)
        if self.export_job and not _EXPORT_JOB.fullmatch(self.export_job):
            raise SettingsError(
                "PICBUCKET_EXPORT_JOB must be empty or a Cloud Run job name such as "
                "projects/my-project/locations/europe-west1/jobs/picbucket-export, "
                f"not {self.export_job!r}."
            )
        for email in self.admin_emails:
            local, at, domain = email.partition("@")
            if not (local and at and domain) or "@" in domain:
                raise SettingsError(
                    f"PICBUCKET_ADMIN_EMAILS must be comma-separated emails; {email!r} is not one."
                )

    def _validate_production(self, *, sign_in: bool) -> None:
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            raise SettingsError(
                "Production needs PICBUCKET_SECRET_KEY: a random string of 32+ characters "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))").'
            )
        if self.oidc_local:
            raise SettingsError(
                "Production cannot use the local identity provider: unset PICBUCKET_OIDC_LOCAL."
            )
        if sign_in and (not self.oidc_client_id or not self.oidc_client_secret):
            raise SettingsError(
                "Production needs PICBUCKET_OIDC_CLIENT_ID and PICBUCKET_OIDC_CLIENT_SECRET "
                "(your Google OAuth client)."
            )
        if not self.oidc_issuer.startswith("https://"):
            raise SettingsError("Production needs an https:// PICBUCKET_OIDC_ISSUER.")
        if self.service_url and not self.service_url.startswith("https://"):
            raise SettingsError("Production needs an https:// PICBUCKET_SERVICE_URL.")


# A Cloud Run job's full resource name (Run Admin API v2); the project by id or number.
_EXPORT_JOB = re.compile(r"projects/[a-z0-9][a-z0-9.:-]*/locations/[a-z0-9-]+/jobs/[a-z][a-z0-9-]*")

# Storage URI schemes of the `limits` library that synchronous Flask-Limiter can use.
_SYNC_STORAGE_SCHEMES = frozenset(
    (
        "memory",
        "memcached",
        "mongodb",
        "mongodb+srv",
        "redis",
        "rediss",
        "redis+cluster",
        "redis+sentinel",
        "redis+unix",
        "valkey",
        "valkeys",
        "valkey+cluster",
        "valkey+sentinel",
        "valkey+unix",
    )
)


def _check_rate_limit(name: str, value: str) -> None:
    """Refuse a limit Flask-Limiter could not parse: it would silently not apply."""
    try:
        parsed = limits.parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise SettingsError(
            f"{_env_name(name)} must be a rate limit such as '20 per minute' or "
            f"'5/second; 100/hour', not {value!r}."
        )


def _check_origin(url: str) -> None:
    """Refuse a service URL that is not a bare http(s) origin."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or url != url.strip()
        or (port is not None and not 0 < port < 65536)
    ):
        raise SettingsError(
            "PICBUCKET_SERVICE_URL must be an http(s) origin without a path, such as "
            f"https://pics.example.com, not {url!r}."
        )


def _parse(name: str, raw: str, annotation: object) -> object:
    text = str(annotation)
    if "tuple" in text:
        return _split_list(raw)
    if text == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"PICBUCKET_{name.upper()} must be true or false, not {raw!r}.")
    if text == "int":
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{_env_name(name)} must be a whole number, not {raw!r}.") from None
    if text == "float":
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):  # NaN or infinite
            raise SettingsError(f"{_env_name(name)} must be a number, not {raw!r}.")
        return value
    if text == "Path":
        return Path(raw)
    return raw.strip()
