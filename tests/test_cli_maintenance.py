"""Maintenance commands run where the web app would refuse to start, and only there.

The Cloud Run reconcile job (terraform/reconcile.tf) deliberately gets no OAuth
client secret: the ``picbucket`` console script must run under production settings
without it, while the web app still refuses them. A database newer than the code is
a one-line configuration error for both, not a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from picbucket.adapters.sqlite_migrations import LATEST
from picbucket.settings import Settings, SettingsError

PICBUCKET = Path(sys.executable).parent / "picbucket"


def production_env(data_dir: Path) -> dict[str, str]:
    """Return a production environment as the reconcile job has it: no OAuth client."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICBUCKET_")}
    env.update(
        PICBUCKET_ENV="production",
        PICBUCKET_SECRET_KEY="s" * 48,
        PICBUCKET_DATA_DIR=str(data_dir),
        PICBUCKET_SERVICE_URL="https://pics.example.com",
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_maintenance_commands_run_in_production_without_the_oauth_secret(
    tmp_path: Path,
) -> None:
    env = production_env(tmp_path / "data")

    reconcile = run([str(PICBUCKET), "reconcile", "--dry-run"], env)
    backfill = run([str(PICBUCKET), "renditions", "--backfill"], env)

    assert reconcile.returncode == 0, reconcile.stderr
    assert "nothing changed" in reconcile.stdout
    assert backfill.returncode == 0, backfill.stderr
    assert backfill.stdout.strip() == "renditions: nothing to do"


def test_the_web_app_still_needs_the_oauth_client_in_production(tmp_path: Path) -> None:
    env = production_env(tmp_path / "data")

    with pytest.raises(SettingsError, match="PICBUCKET_OIDC_CLIENT_SECRET"):
        Settings.from_env(env)
    web = run([sys.executable, "-c", "import picbucket; picbucket.create_app()"], env)

    assert web.returncode == 3
    assert web.stderr.strip().startswith("picbucket: configuration error: Production needs")
    assert Settings.from_env(env, for_maintenance=True).production


def newer_database(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / "picbucket.sqlite3") as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import picbucket; picbucket.create_app()"],
        [str(PICBUCKET), "reconcile", "--dry-run"],
    ],
    ids=["web-app", "console-script"],
)
def test_a_database_newer_than_the_code_is_a_one_line_configuration_error(
    tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "data"
    newer_database(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICBUCKET_")}
    env["PICBUCKET_DATA_DIR"] = str(data)

    result = run(command, env)

    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback
    assert lines[0].startswith("picbucket: configuration error: ")
    assert str(LATEST + 1) in lines[0]
