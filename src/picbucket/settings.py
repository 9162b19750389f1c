"""Configuration: every ``PICBUCKET_*`` variable, read once and validated.

The README's configuration table lists the same variables; keep them in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

GOOGLE_ISSUER = "https://accounts.google.com"
DEV_SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - refused in production

MIB = 1024 * 1024


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message says what to set."""


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip().lower() for item in value.split(",") if item.strip())


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

    # Rate limits (Flask-Limiter syntax) and where their counters live.
    rate_limit_sign_in: str = "20 per minute"
    rate_limit_upload: str = "120 per minute"
    rate_limit_api: str = "600 per minute"
    rate_limit_storage: str = "memory://"

    # Number of proxies in front of the app whose X-Forwarded-* headers are trusted.
    proxy_hops: int = 0
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        """Tell whether production safety rules apply."""
        return self.env == "production"

    @property
    def max_upload_bytes(self) -> int:
        """Return the largest file accepted through the app, in bytes."""
        return self.max_upload_mb * MIB

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``PICBUCKET_*`` variables, validate them, and return settings."""
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
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``SettingsError`` with a one-line fix if the settings cannot work."""
        choices = {
            "env": ("development", "production"),
            "blob_store": ("local", "gcs"),
            "record_store": ("sqlite", "firestore"),
            "share_delivery": ("proxy", "signed-url"),
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
        for name in ("max_upload_mb", "max_pixels", "max_frames", "quota_mb", "quota_images"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"PICBUCKET_{name.upper()} must be a positive number.")
        if self.max_upload_mb > 31:
            raise SettingsError(
                "PICBUCKET_MAX_UPLOAD_MB must be at most 31: Cloud Run refuses bigger requests."
            )
        if not 1 <= self.page_size <= 200:
            raise SettingsError("PICBUCKET_PAGE_SIZE must be between 1 and 200.")
        if self.production:
            self._validate_production()

    def _validate_production(self) -> None:
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            raise SettingsError(
                "Production needs PICBUCKET_SECRET_KEY: a random string of 32+ characters "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))").'
            )
        if self.oidc_local:
            raise SettingsError(
                "Production cannot use the local identity provider: unset PICBUCKET_OIDC_LOCAL."
            )
        if not self.oidc_client_id or not self.oidc_client_secret:
            raise SettingsError(
                "Production needs PICBUCKET_OIDC_CLIENT_ID and PICBUCKET_OIDC_CLIENT_SECRET "
                "(your Google OAuth client)."
            )
        if not self.oidc_issuer.startswith("https://"):
            raise SettingsError("Production needs an https:// PICBUCKET_OIDC_ISSUER.")


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
            raise SettingsError(
                f"PICBUCKET_{name.upper()} must be a whole number, not {raw!r}."
            ) from None
    if text == "Path":
        return Path(raw)
    return raw.strip()
