"""The database schema as an ordered list of migrations, versioned by ``PRAGMA user_version``.

Version N means the first N migrations have run. To change the schema, append a migration
(SQL text or a function of the database) and never edit one that has shipped: databases in
the wild have already run it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlite_utils import Database

Migration = str | Callable[[Database], None]

# Every table that holds something about a user references users(id) ON DELETE CASCADE, so
# deleting the users row forgets the user everywhere; new tables must do the same.
V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL CHECK (platform <> ''),
    -- TEXT: Telegram and Discord ids are 64-bit and other platforms use strings.
    platform_user_id TEXT NOT NULL CHECK (platform_user_id <> ''),
    name TEXT,
    created_ts REAL NOT NULL,
    UNIQUE (platform, platform_user_id)
);

-- Likes, dislikes and star ratings share one row per (user, item): the latest one wins.
CREATE TABLE ratings (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    rating REAL NOT NULL
        CHECK (rating BETWEEN 0.5 AND 5 AND rating * 2 = CAST(rating * 2 AS INTEGER)),
    source TEXT NOT NULL CHECK (source IN ('like', 'dislike', 'rate')),
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX ratings_by_user_ts ON ratings (user_id, ts DESC, item_id);

CREATE TABLE not_interested (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
);

CREATE TABLE watchlist (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    added_ts REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
);
CREATE INDEX watchlist_by_user_ts ON watchlist (user_id, added_ts DESC, item_id);

CREATE TABLE seen (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (user_id, item_id)
);

-- AUTOINCREMENT so a batch id is never reused, even after the newest batch's user is forgotten.
CREATE TABLE shown_batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    context TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX shown_batches_by_user ON shown_batches (user_id);

CREATE TABLE shown (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES shown_batches (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    item_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    feedback TEXT
        CHECK (feedback IN ('like', 'dislike', 'rate', 'not_interested', 'watch', 'seen')),
    feedback_ts REAL,
    UNIQUE (batch_id, position)
);
CREATE INDEX shown_by_user_item ON shown (user_id, item_id, id);
"""

# Movie night: who opted in to group recommendations in a chat room. ``room`` is an opaque
# key the chat adapter builds ("discord:<guild>:<channel>", "telegram:<chat id>"); rowid
# order is joining order, and leaving deletes the row, so a rejoin goes to the end.
V2 = """
CREATE TABLE group_members (
    room TEXT NOT NULL CHECK (room <> ''),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_ts REAL NOT NULL,
    PRIMARY KEY (room, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);
"""

# Linking accounts: a chat user asks for a one-time code (``link_codes``, kept as a hash,
# short-lived, deleted when used) and a web visitor who enters it acts as that chat user
# from then on (``links``: the visitor's own users row -> the chat user's). Both sides
# cascade, so forgetting either user forgets the link.
V3 = """
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY CHECK (code_hash <> ''),
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_ts REAL NOT NULL
);
CREATE INDEX link_codes_by_user ON link_codes (user_id);

CREATE TABLE links (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    linked_to INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ts REAL NOT NULL,
    CHECK (user_id <> linked_to)
);
CREATE INDEX links_by_target ON links (linked_to);
"""

MIGRATIONS: list[Migration] = [V1, V2, V3]


@contextmanager
def immediate(db: Database) -> Iterator[Database]:
    """A write transaction that takes SQLite's write lock at BEGIN.

    A deferred transaction that reads first and writes later can fail with SQLITE_BUSY at
    once when another process wrote in between; BEGIN IMMEDIATE waits out the busy timeout
    instead. Expects a connection in autocommit mode (``isolation_level=None``).
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()  # a no-op when the error already ended the transaction
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        db.rollback()
        raise


def version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Raise ``ValueError`` for a file this code must neither migrate nor touch: a corrupt
    one, one newer than ``migrations``, or another program's (tables, but no version).
    Only reads, so a refused file is left byte for byte as it was."""
    found = db.execute("PRAGMA quick_check").fetchall()
    if found != [("ok",)]:
        raise ValueError(f"the file is corrupt ({found[0][0]})")
    current = version(db)
    if current > len(migrations):
        raise ValueError(f"schema version {current} is newer than this program's "
                         f"{len(migrations)}")
    if current == 0 and db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
        raise ValueError("it is an SQLite database of another program")


def migrate(db: Database, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Run the migrations ``db`` has not had yet, each in its own transaction; the new version.

    The version is re-read under the write lock, so two processes opening a fresh file at the
    same time run each migration once. Raises ``ValueError`` for a database newer than
    ``migrations`` (written by a later release), which this code must not touch.
    """
    if version(db) > len(migrations):
        raise ValueError(f"schema version {version(db)} is newer than this program's "
                         f"{len(migrations)}")
    for number, step in enumerate(migrations, start=1):
        if version(db) >= number:
            continue
        with immediate(db):
            if version(db) >= number:
                continue
            if isinstance(step, str):
                db.executescript(step)  # inside a transaction: no implicit COMMIT
            else:
                step(db)
            # PRAGMA takes no parameters; number is an int we counted, not input.
            db.execute(f"PRAGMA user_version = {number:d}")
    return version(db)
