"""Numbered SQLite schema migrations, keyed on ``PRAGMA user_version``.

Migration N brings a database from version N-1 to N. They run at start, all in one
``BEGIN IMMEDIATE`` transaction (SQLite DDL is transactional), so two processes
starting together serialise and a failed migration leaves the file as it was.
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from picbucket import search
from picbucket.settings import SettingsError

# Version 1: the schema of the first release, which did not set user_version.
SCHEMA_V1 = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    session_epoch TEXT NOT NULL,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE images (
    owner_id TEXT NOT NULL REFERENCES users(id),
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    original_key TEXT NOT NULL,
    original_type TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    original_sha256 TEXT NOT NULL,
    thumb_key TEXT NOT NULL,
    thumb_type TEXT NOT NULL,
    thumb_size INTEGER NOT NULL,
    thumb_sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX images_gallery ON images (owner_id, status, created DESC, id DESC);
CREATE INDEX images_unfinished ON images (status, created);
CREATE TABLE shares (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
);
CREATE INDEX shares_owner ON shares (owner_id, image_id, created DESC);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    last_used TEXT
);
CREATE INDEX tokens_owner ON tokens (owner_id, created DESC);
"""

# Version 2: pixel sizes per variant, the display rendition, date taken, and the
# "date taken, else upload date" sort key with its keyset index.
SCHEMA_V2 = """
ALTER TABLE images ADD COLUMN original_width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN original_height INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN thumb_width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN thumb_height INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN display_key TEXT;
ALTER TABLE images ADD COLUMN display_type TEXT;
ALTER TABLE images ADD COLUMN display_size INTEGER;
ALTER TABLE images ADD COLUMN display_sha256 TEXT;
ALTER TABLE images ADD COLUMN display_width INTEGER;
ALTER TABLE images ADD COLUMN display_height INTEGER;
ALTER TABLE images ADD COLUMN taken_at TEXT;
-- ADD COLUMN cannot be NOT NULL without a default; the UPDATE below fills every row.
ALTER TABLE images ADD COLUMN sort_at TEXT NOT NULL DEFAULT '';
UPDATE images SET sort_at = COALESCE(taken_at, created);
CREATE INDEX images_taken ON images (owner_id, status, sort_at DESC, id DESC);
"""


# Version 4: how many times each share link's page was opened (the "Shared links" list).
SCHEMA_V4_SHARE_VIEWS = """
ALTER TABLE shares ADD COLUMN views INTEGER NOT NULL DEFAULT 0;
"""

# Version 5: the trash (status 'trashed' + when), duplicate lookup by content hash,
# album share links with password, epoch, view limit and originals switch, albums.
SCHEMA_V5_ALBUMS_TRASH = """
ALTER TABLE images ADD COLUMN trashed_at TEXT;
CREATE INDEX images_trash ON images (status, trashed_at);
CREATE INDEX images_sha256 ON images (owner_id, original_sha256);
ALTER TABLE shares ADD COLUMN album_id TEXT;
ALTER TABLE shares ADD COLUMN password_hash TEXT;
ALTER TABLE shares ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
ALTER TABLE shares ADD COLUMN max_views INTEGER;
ALTER TABLE shares ADD COLUMN allow_originals INTEGER NOT NULL DEFAULT 1;
CREATE TABLE albums (
    owner_id TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cover_id TEXT,
    order_mode TEXT NOT NULL DEFAULT 'manual',
    created TEXT NOT NULL,
    PRIMARY KEY (owner_id, id)
);
CREATE TABLE album_items (
    owner_id TEXT NOT NULL,
    album_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (owner_id, album_id, image_id)
);
CREATE INDEX album_items_position ON album_items (owner_id, album_id, position);
CREATE INDEX album_items_image ON album_items (owner_id, image_id);
"""


# Version 6: roles, disabled and deleting accounts, per-person quotas, last sign-in,
# the Workspace domain that vouched for the person; the admin page's email-prefix
# keyset index; the audit log of administrator actions.
SCHEMA_V6_PEOPLE = """
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
ALTER TABLE users ADD COLUMN quota_images INTEGER;
ALTER TABLE users ADD COLUMN last_sign_in TEXT;
ALTER TABLE users ADD COLUMN hosted_domain TEXT NOT NULL DEFAULT '';
CREATE INDEX users_email ON users (email, id);
CREATE INDEX users_deleting ON users (deleting) WHERE deleting = 1;
CREATE TABLE audit (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_email TEXT NOT NULL,
    action TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_email TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_newest ON audit (at DESC, id DESC);
"""

# Version 7: Idempotency-Key → image id per owner, kept 24 h (sqlite_idempotency.py).
SCHEMA_V7_IDEMPOTENCY = """
CREATE TABLE idempotency_keys (
    owner_id TEXT NOT NULL,
    key TEXT NOT NULL,
    image_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (owner_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created);
"""

# Version 8: background exports ("Export everything" built by a job; sqlite_exports.py).
SCHEMA_V8_EXPORTS = """
CREATE TABLE exports (
    owner_id TEXT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    expires TEXT NOT NULL,
    photos_total INTEGER NOT NULL DEFAULT 0,
    photos_done INTEGER NOT NULL DEFAULT 0,
    bytes_written INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    PRIMARY KEY (owner_id, id)
);
CREATE INDEX exports_newest ON exports (owner_id, created DESC, id DESC);
CREATE INDEX exports_expires ON exports (expires);
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        # Statement by statement: executescript() would COMMIT our transaction.
        for statement in _statements(sql):
            conn.execute(statement)

    return run


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _title_search_words(conn: sqlite3.Connection) -> None:
    """Add the title search column and fill it for every existing image.

    Python, not SQL: the words are case-folded and accent-stripped by
    ``picbucket.search`` exactly as new records are, so old photos are found too.
    """
    conn.execute("ALTER TABLE images ADD COLUMN search_words TEXT NOT NULL DEFAULT ' '")
    rows = conn.execute("SELECT owner_id, id, title FROM images").fetchall()
    conn.executemany(
        "UPDATE images SET search_words = ? WHERE owner_id = ? AND id = ?",
        [(search.word_column(title), owner, image) for owner, image, title in rows],
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _script(SCHEMA_V1),
    _script(SCHEMA_V2),
    _title_search_words,
    _script(SCHEMA_V4_SHARE_VIEWS),
    _script(SCHEMA_V5_ALBUMS_TRASH),
    _script(SCHEMA_V6_PEOPLE),
    _script(SCHEMA_V7_IDEMPOTENCY),
    _script(SCHEMA_V8_EXPORTS),
)
LATEST = len(MIGRATIONS)


class SchemaTooNew(SettingsError):
    """The database was written by a newer Picbucket than this one.

    A ``SettingsError``: like a bad setting, it stops the start with one line to act on.
    """


def schema_version(conn: sqlite3.Connection) -> int:
    """Return the database's schema version."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bring the database to ``LATEST``; return (version before, version after).

    ``conn`` must be in autocommit mode (``isolation_level=None``). Raise
    ``SchemaTooNew`` if the file is newer than this code: running on would corrupt it.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = version = schema_version(conn)
        if version > LATEST:
            raise SchemaTooNew(
                f"The database is at schema version {version} but this Picbucket knows "
                f"only up to {LATEST}; run a newer Picbucket."
            )
        if version == 0 and _has_table(conn, "images"):
            # The first release created version 1's tables without numbering them.
            version = 1
        for number in range(version + 1, LATEST + 1):
            MIGRATIONS[number - 1](conn)
            version = number
        # PRAGMA takes no bound parameters; version is an int we computed.
        conn.execute(f"PRAGMA user_version = {int(version)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return before, version


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None
