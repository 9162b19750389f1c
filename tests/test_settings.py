"""Configuration is read once, validated, and production refuses unsafe set-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from picbucket import create_app
from picbucket.settings import Settings, SettingsError

PRODUCTION = {
    "PICBUCKET_ENV": "production",
    "PICBUCKET_SECRET_KEY": "k" * 48,
    "PICBUCKET_OIDC_CLIENT_ID": "client-id",
    "PICBUCKET_OIDC_CLIENT_SECRET": "client-secret",
}


def test_defaults_are_the_embedded_local_setup() -> None:
    settings = Settings.from_env({})
    assert settings.blob_store == "local"
    assert settings.record_store == "sqlite"
    assert settings.oidc_issuer == "https://accounts.google.com"
    assert settings.max_upload_mb == 25
    assert settings.data_dir == Path("var")


def test_variables_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "PICBUCKET_MAX_UPLOAD_MB": "10",
            "PICBUCKET_ALLOWED_EMAILS": "Alice@Example.com, bob@example.org",
            "PICBUCKET_ALLOWED_DOMAINS": "example.net",
            "PICBUCKET_OIDC_LOCAL": "true",
            "PICBUCKET_DATA_DIR": "/tmp/pb",
            "GOOGLE_CLOUD_PROJECT": "my-project",
        }
    )
    assert settings.max_upload_mb == 10
    assert settings.allowed_emails == ("alice@example.com", "bob@example.org")
    assert settings.allowed_domains == ("example.net",)
    assert settings.oidc_local is True
    assert settings.data_dir == Path("/tmp/pb")
    assert settings.gcp_project == "my-project"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PICBUCKET_MAX_UPLOAD_MB": "lots"}, "PICBUCKET_MAX_UPLOAD_MB must be a whole number"),
        ({"PICBUCKET_MAX_UPLOAD_MB": "64"}, "Cloud Run refuses bigger requests"),
        ({"PICBUCKET_BLOB_STORE": "s3"}, "PICBUCKET_BLOB_STORE must be one of local, gcs"),
        ({"PICBUCKET_BLOB_STORE": "gcs"}, "Set PICBUCKET_GCS_BUCKET"),
        ({"PICBUCKET_OIDC_LOCAL": "maybe"}, "must be true or false"),
        ({"PICBUCKET_SHARE_DELIVERY": "signed-url"}, "needs PICBUCKET_BLOB_STORE=gcs"),
    ],
)
def test_bad_values_fail_fast_with_a_readable_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PICBUCKET_SECRET_KEY": ""}, "needs PICBUCKET_SECRET_KEY"),
        ({"PICBUCKET_SECRET_KEY": "short"}, "needs PICBUCKET_SECRET_KEY"),
        ({"PICBUCKET_OIDC_LOCAL": "true"}, "cannot use the local identity provider"),
        ({"PICBUCKET_OIDC_CLIENT_SECRET": ""}, "PICBUCKET_OIDC_CLIENT_SECRET"),
        ({"PICBUCKET_OIDC_ISSUER": "http://127.0.0.1:5001"}, "https://"),
    ],
)
def test_production_refuses_unsafe_configuration(change: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env({**PRODUCTION, **change})
    assert "\n" not in str(caught.value)  # one line


def test_production_with_real_credentials_starts(tmp_path: Path) -> None:
    settings = Settings.from_env({**PRODUCTION, "PICBUCKET_DATA_DIR": str(tmp_path)})
    app = create_app(settings)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.test_client().get("/healthz").status_code == 200
    app.extensions["picbucket"].close()


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PICBUCKET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PICBUCKET_MAX_UPLOAD_MB", "3")
    app = create_app()
    assert app.config["PICBUCKET_SETTINGS"].max_upload_mb == 3
    assert (tmp_path / "picbucket.sqlite3").exists()
    app.extensions["picbucket"].close()
