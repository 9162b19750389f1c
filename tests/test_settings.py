"""Configuration is read once, validated, and production refuses unsafe set-ups."""

from __future__ import annotations

import os
import subprocess
import sys
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
        ({"PICBUCKET_LOG_LEVEL": "LOUD"}, "PICBUCKET_LOG_LEVEL must be DEBUG, INFO"),
        ({"PICBUCKET_PROXY_HOPS": "-1"}, "PICBUCKET_PROXY_HOPS must be between 0 and 5"),
        ({"PICBUCKET_PROXY_HOPS": "one"}, "PICBUCKET_PROXY_HOPS must be a whole number"),
        ({"PICBUCKET_RATE_LIMIT_API": "lots"}, "PICBUCKET_RATE_LIMIT_API must be a rate limit"),
        ({"PICBUCKET_RATE_LIMIT_API": "600 per fortnight"}, "PICBUCKET_RATE_LIMIT_API must"),
        ({"PICBUCKET_RATE_LIMIT_UPLOAD": "0 per minute"}, "PICBUCKET_RATE_LIMIT_UPLOAD must"),
        ({"PICBUCKET_RATE_LIMIT_SIGN_IN": "20 per minute;"}, "PICBUCKET_RATE_LIMIT_SIGN_IN"),
        ({"PICBUCKET_RATE_LIMIT_STORAGE": "redis"}, "PICBUCKET_RATE_LIMIT_STORAGE must be"),
        ({"PICBUCKET_PAGE_SIZE": "0"}, "PICBUCKET_PAGE_SIZE must be between 1 and 200"),
        ({"PICBUCKET_MAX_UPLOAD_MB": "0"}, "PICBUCKET_MAX_UPLOAD_MB must be between 1 and 31"),
        ({"PICBUCKET_MAX_DIRECT_UPLOAD_MB": "0"}, "PICBUCKET_MAX_DIRECT_UPLOAD_MB must be"),
        ({"PICBUCKET_MAX_FRAMES": "-3"}, "PICBUCKET_MAX_FRAMES must be between 1 and"),
        ({"PICBUCKET_QUOTA_MB": "0"}, "PICBUCKET_QUOTA_MB must be between 1 and"),
        ({"PICBUCKET_QUOTA_IMAGES": "-1"}, "PICBUCKET_QUOTA_IMAGES must be between 1 and"),
        ({"PICBUCKET_MAX_PIXELS": "0"}, "PICBUCKET_MAX_PIXELS must be between 1 and"),
        ({"PICBUCKET_DECODE_BUDGET_MB": "32"}, "PICBUCKET_DECODE_BUDGET_MB must be between 64"),
        ({"PICBUCKET_DECODE_WAIT_SECONDS": "soon"}, "PICBUCKET_DECODE_WAIT_SECONDS must be a"),
        ({"PICBUCKET_DECODE_WAIT_SECONDS": "nan"}, "PICBUCKET_DECODE_WAIT_SECONDS must be a"),
        ({"PICBUCKET_DECODE_WAIT_SECONDS": "-1"}, "PICBUCKET_DECODE_WAIT_SECONDS must be betw"),
        ({"PICBUCKET_DECODE_WAIT_SECONDS": "90"}, "PICBUCKET_DECODE_WAIT_SECONDS must be betw"),
        ({"PICBUCKET_MAX_FILES_PER_REQUEST": "0"}, "PICBUCKET_MAX_FILES_PER_REQUEST must be"),
        ({"PICBUCKET_MAX_FILES_PER_REQUEST": "500"}, "PICBUCKET_MAX_FILES_PER_REQUEST must"),
        ({"PICBUCKET_SERVICE_URL": "pics.example.com"}, "PICBUCKET_SERVICE_URL must be an"),
        ({"PICBUCKET_SERVICE_URL": "https://pics.example.com/app"}, "without a path"),
        ({"PICBUCKET_SERVICE_URL": "ftp://pics.example.com"}, "PICBUCKET_SERVICE_URL must"),
        ({"PICBUCKET_SERVICE_URL": "https://pics.example.com?x=1"}, "PICBUCKET_SERVICE_URL"),
        ({"PICBUCKET_SERVICE_URL": "https://me@pics.example.com"}, "PICBUCKET_SERVICE_URL"),
        ({"PICBUCKET_SERVICE_URL": "https://pics.example.com:99999"}, "PICBUCKET_SERVICE_URL"),
        ({"PICBUCKET_ADMIN_EMAILS": "alice@example.com, bob"}, "'bob' is not one"),
        ({"PICBUCKET_EXPORT_MODE": "batch"}, "PICBUCKET_EXPORT_MODE must be one of stream, job"),
        ({"PICBUCKET_EXPORT_JOB": "picbucket-export"}, "PICBUCKET_EXPORT_JOB must be empty or"),
        ({"PICBUCKET_EXPORT_JOB": "projects/p/locations/r/jobs/"}, "PICBUCKET_EXPORT_JOB must"),
        ({"PICBUCKET_EXPORT_STREAM_MAX_MB": "-1"}, "PICBUCKET_EXPORT_STREAM_MAX_MB must be betw"),
        ({"PICBUCKET_EXPORT_STREAM_MAX_MB": "1GB"}, "PICBUCKET_EXPORT_STREAM_MAX_MB must be a"),
        ({"PICBUCKET_EXPORT_KEEP_DAYS": "0"}, "PICBUCKET_EXPORT_KEEP_DAYS must be between 1"),
    ],
)
def test_bad_values_fail_fast_with_a_readable_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        Settings.from_env(env)
    assert "\n" not in str(caught.value)  # one line


def test_new_settings_have_documented_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.decode_budget_mb == 384
    assert settings.decode_wait_seconds == 10.0
    assert settings.max_files_per_request == 20
    assert settings.service_url == ""
    assert settings.admin_emails == ()


def test_new_settings_are_read_as_a_user_sets_them() -> None:
    settings = Settings.from_env(
        {
            "PICBUCKET_DECODE_BUDGET_MB": "512",
            "PICBUCKET_DECODE_WAIT_SECONDS": "2.5",
            "PICBUCKET_MAX_FILES_PER_REQUEST": "50",
            "PICBUCKET_SERVICE_URL": "https://pics.example.com/",
            "PICBUCKET_ADMIN_EMAILS": " Alice@Example.com ,root@example.org",
            "PICBUCKET_LOG_LEVEL": "debug",
            "PICBUCKET_PROXY_HOPS": "1",
            "PICBUCKET_RATE_LIMIT_API": "5/second; 1000 per hour",
            "PICBUCKET_RATE_LIMIT_STORAGE": "redis://cache:6379/0",
        }
    )
    assert settings.decode_budget_mb == 512
    assert settings.decode_wait_seconds == 2.5
    assert settings.max_files_per_request == 50
    assert settings.service_origin == "https://pics.example.com"
    assert settings.admin_emails == ("alice@example.com", "root@example.org")
    assert settings.log_level == "debug"
    assert settings.proxy_hops == 1
    assert Settings.from_env({"PICBUCKET_DECODE_WAIT_SECONDS": "0"}).decode_wait_seconds == 0
    local = Settings.from_env({"PICBUCKET_SERVICE_URL": "http://127.0.0.1:8000"})
    assert local.service_origin == "http://127.0.0.1:8000"


def test_bad_setting_stops_the_server_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    """The way gunicorn starts the app: a fresh process reading the environment."""
    env = {
        **os.environ,
        "PICBUCKET_DATA_DIR": str(tmp_path),
        "PICBUCKET_LOG_LEVEL": "LOUD",
    }
    done = subprocess.run(
        [sys.executable, "-c", "from picbucket import create_app; create_app()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3  # gunicorn's "worker failed to boot": the master stops
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "picbucket: configuration error: PICBUCKET_LOG_LEVEL must be DEBUG, INFO, WARNING, "
        "ERROR or CRITICAL, not 'LOUD'."
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"PICBUCKET_SECRET_KEY": ""}, "needs PICBUCKET_SECRET_KEY"),
        ({"PICBUCKET_SECRET_KEY": "short"}, "needs PICBUCKET_SECRET_KEY"),
        ({"PICBUCKET_OIDC_LOCAL": "true"}, "cannot use the local identity provider"),
        ({"PICBUCKET_OIDC_CLIENT_SECRET": ""}, "PICBUCKET_OIDC_CLIENT_SECRET"),
        ({"PICBUCKET_OIDC_ISSUER": "http://127.0.0.1:5001"}, "https://"),
        ({"PICBUCKET_SERVICE_URL": "http://pics.example.com"}, "https:// PICBUCKET_SERVICE_URL"),
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


def test_exports_stream_by_default_and_job_mode_is_read() -> None:
    default = Settings.from_env({})
    job = Settings.from_env(
        {
            "PICBUCKET_EXPORT_MODE": "job",
            "PICBUCKET_EXPORT_JOB": "projects/my-project/locations/europe-west1/jobs/pb-export",
            "PICBUCKET_EXPORT_STREAM_MAX_MB": "0",
            "PICBUCKET_EXPORT_KEEP_DAYS": "3",
        }
    )
    assert (default.export_mode, default.export_job) == ("stream", "")
    assert (default.export_stream_max_mb, default.export_keep_days) == (256, 7)
    assert (job.export_mode, job.export_stream_max_mb, job.export_keep_days) == ("job", 0, 3)
    assert job.export_job == "projects/my-project/locations/europe-west1/jobs/pb-export"
    # A project number works in resource names too.
    numbered = "projects/123456789012/locations/us-central1/jobs/export"
    assert Settings.from_env({"PICBUCKET_EXPORT_JOB": numbered}).export_job == numbered
