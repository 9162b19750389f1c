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

from picbucket.domain import ExportStatus, PicbucketError
from picbucket.ports import Backends
from picbucket.services.exports import ExportPolicy, build_export
from picbucket.services.reconcile import Guards, carry_out, plan_reconcile
from picbucket.services.renditions import DEFAULT_BATCH, backfill_renditions
from picbucket.settings import Settings

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

    Prints the plan first, then carries it out. Exits 3, removing no orphan or
    direct-upload blob, when the plan would delete more than --max-delete-share of the
    blobs or when no blob has a record (empty or wrong record store), unless --force;
    account deletions, stale uploads, trash purges and expired keys still run. Exits 1
    if an item could not be removed (the next run retries).
    """
    if grace_minutes == 0 and not force:
        # Grace 0 races every upload in progress: only for a deliberate cleanup.
        raise click.UsageError("--grace-minutes 0 can remove uploads in progress; add --force.")
    backends: Backends = current_app.extensions["picbucket"]
    guards = Guards(max_delete_share=max_delete_share, force=force)
    trash_days = current_app.config["PICBUCKET_SETTINGS"].trash_days
    plan = plan_reconcile(backends, grace=timedelta(minutes=grace_minutes), trash_days=trash_days)
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


@click.command("renditions")
@click.option(
    "--backfill",
    is_flag=True,
    required=True,
    help="Make today's thumbnail and display rendition for images stored before them.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=1000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Images per batch (progress is printed after each).",
)
@with_appcontext
def renditions_command(backfill: bool, batch_size: int) -> None:
    """Renew the renditions of images stored by the first release, from their originals.

    Originals are kept as stored. Idempotent and resumable: stop it any time and run
    it again; a run with nothing left to do says so. Exits 1 if an image failed (the
    next run retries it).
    """
    backends: Backends = current_app.extensions["picbucket"]
    settings: Settings = current_app.config["PICBUCKET_SETTINGS"]
    report = backfill_renditions(backends, settings, batch_size=batch_size, echo=click.echo)
    if report.failed:
        raise SystemExit(EXIT_ITEM_FAILED)


@click.group("records")
def records_group() -> None:
    """Record store maintenance."""


@records_group.command("backfill-sort-keys")
@with_appcontext
def backfill_sort_keys_command() -> None:
    """Give Firestore image documents from before "date taken" the field the gallery sorts by.

    Idempotent and resumable. On SQLite the migrations at start already did this: it
    prints "nothing to do".
    """
    settings: Settings = current_app.config["PICBUCKET_SETTINGS"]
    if settings.record_store != "firestore":
        click.echo("records: nothing to do (SQLite is migrated at start)")
        return
    from picbucket.adapters.firestore_records import FirestoreRecords

    # A client of its own: the app's repositories bound each call by a deadline that
    # a walk over every image document may need to exceed.
    records = FirestoreRecords.from_settings(settings)
    try:
        changed = records.backfill_sort_keys()
    finally:
        records.close()
    click.echo(
        f"records: {changed} image document(s) given a sort key"
        if changed
        else "records: nothing to do"
    )


@click.group("exports")
def exports_group() -> None:
    """Exports built by a job ("Export everything" of large accounts)."""


@exports_group.command("build")
@click.argument("owner_id")
@click.argument("export_id")
@with_appcontext
def build_export_command(owner_id: str, export_id: str) -> None:
    """Write one export's zip into the blob store (what the export Cloud Run job runs).

    Safe to run again: a ready export is left alone, anything else is built afresh.
    Exits 0 when the export is ready, 1 (with a one-line reason) otherwise.
    """
    backends: Backends = current_app.extensions["picbucket"]
    settings: Settings = current_app.config["PICBUCKET_SETTINGS"]
    try:
        export = build_export(backends, ExportPolicy.from_settings(settings), owner_id, export_id)
    except PicbucketError as exc:
        raise click.ClickException(f"export {export_id}: {exc}") from None
    if export.status is not ExportStatus.READY:
        raise click.ClickException(f"export {export_id} failed: {export.error}")
    click.echo(
        f"export {export_id} ready: {export.photos_done} photos, {export.bytes_written:,} bytes"
    )


COMMANDS: tuple[click.Command, ...] = (
    reconcile_command,
    renditions_command,
    records_group,
    exports_group,
)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``picbucket`` console script (its commands run inside the app)."""
    from picbucket.app import create_maintenance_app

    # FlaskGroup builds the app only when a command runs, so --help needs no config.
    cli = FlaskGroup(
        name="picbucket",
        create_app=create_maintenance_app,
        add_default_commands=False,
        add_version_option=False,
        load_dotenv=False,
        set_debug_flag=False,
        help="Picbucket maintenance commands.",
    )
    for command in COMMANDS:
        cli.add_command(command)
    cli.main(args=list(argv) if argv is not None else None, prog_name="picbucket")
