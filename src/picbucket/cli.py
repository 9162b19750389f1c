"""Command-line entry points: ``flask --app picbucket reconcile`` and ``picbucket reconcile``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from picbucket.ports import Backends
from picbucket.services.reconcile import reconcile


@click.command("reconcile")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Report what would be removed; change nothing.",
)
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Leave blobs and pending uploads younger than this alone (uploads in progress).",
)
@with_appcontext
def reconcile_command(dry_run: bool, grace_minutes: int) -> None:
    """Remove orphan blobs and stale records left behind by crashes."""
    backends: Backends = current_app.extensions["picbucket"]
    report = reconcile(backends, dry_run=dry_run, grace=timedelta(minutes=grace_minutes))
    click.echo(report.summary())
    if report.errors:
        # Non-zero so a scheduled job shows up as failed; the next run retries.
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``picbucket`` console script (its commands run inside the app)."""
    from picbucket import create_app

    # FlaskGroup builds the app only when a command runs, so --help needs no config.
    cli = FlaskGroup(
        name="picbucket",
        create_app=create_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="Picbucket maintenance commands.",
    )
    cli.add_command(reconcile_command)
    cli.main(args=list(argv) if argv is not None else None, prog_name="picbucket")
