"""Command-line entry points: ``flask --app picbucket <command>`` and ``picbucket <command>``.

Each maintenance task is one click subcommand listed in ``COMMANDS``; ``main`` (the
``picbucket`` console script) registers them all, so a new task is one command and
one line there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from picbucket.ports import Backends
from picbucket.services.reconcile import Guards, carry_out, plan_reconcile

# Exit codes of ``reconcile`` (README "Reconcile"); click itself exits 2 on bad usage.
EXIT_ITEM_FAILED = 1
EXIT_REFUSED = 3


@click.command("reconcile")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan; change nothing.",
)
@click.option(
    "--grace-minutes",
    type=click.IntRange(min=0),
    default=60,
    show_default=True,
    help="Leave blobs, temp files and pending uploads younger than this alone "
    "(uploads in progress). 0 needs --force.",
)
@click.option(
    "--max-delete-share",
    type=click.FloatRange(min=0, max=1),
    default=Guards.max_delete_share,
    show_default=True,
    help="Refuse to delete more than this share of the blobs scanned "
    f"(a run may always delete {Guards.always_allowed}).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Carry out the plan even when a guard refuses it (incident cleanup).",
)
@with_appcontext
def reconcile_command(
    dry_run: bool, grace_minutes: int, max_delete_share: float, force: bool
) -> None:
    """Remove orphan blobs, temp files and stale records left behind by crashes.

    Prints the plan first, then carries it out. Exits 3 and deletes nothing when the
    plan deletes more than --max-delete-share of the blobs, or when no blob has a
    record (empty or wrong record store), unless --force; exits 1 if an item could
    not be removed (the next run retries).
    """
    if grace_minutes == 0 and not force:
        # Grace 0 races every upload in progress: only for a deliberate cleanup.
        raise click.UsageError("--grace-minutes 0 can remove uploads in progress; add --force.")
    backends: Backends = current_app.extensions["picbucket"]
    guards = Guards(max_delete_share=max_delete_share, force=force)
    plan = plan_reconcile(backends, grace=timedelta(minutes=grace_minutes))
    click.echo(plan.summary(guards))
    report = carry_out(backends, plan, dry_run=dry_run, guards=guards)
    # A dry run's report is the plan again: say only that nothing changed.
    dry_and_allowed = dry_run and not report.refused
    click.echo("reconcile (dry run): nothing changed" if dry_and_allowed else report.summary())
    if report.refused:
        raise SystemExit(EXIT_REFUSED)
    if report.errors:
        # Non-zero so a scheduled job shows up as failed; the next run retries.
        raise SystemExit(EXIT_ITEM_FAILED)


COMMANDS: tuple[click.Command, ...] = (reconcile_command,)


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
    for command in COMMANDS:
        cli.add_command(command)
    cli.main(args=list(argv) if argv is not None else None, prog_name="picbucket")
