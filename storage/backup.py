"""Backups of the bot's database with SQLite's online backup API, and restoring one.

:func:`backup` copies the live database in one read transaction, so a copy taken while
the bot writes is a consistent snapshot; it goes to a temp file next to the target, is
checked (:func:`verify`) and only then renamed into place. :func:`rotate` is the nightly
backup: a timestamped file in a folder, the oldest beyond ``keep`` deleted.
:func:`restore` refuses anything but a sound database of ours, migrates a copy of it up
to date, then writes it into the live database in one SQLite transaction, so a crash
leaves the old database whole (a live file SQLite cannot read, say a corrupt one, is
replaced by an atomic rename instead). Stop the bot first: what it writes meanwhile is lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from storage import schema
from storage.db import BUSY_TIMEOUT_MS, Storage, StorageError

HEADER = b"SQLite format 3\x00"
NAME = re.compile(r"^bot-\d{8}T\d{6}Z\.sqlite3$")


class BackupError(StorageError):
    """A backup or restore that cannot be done; the message says why, in one line."""


def verify(conn: sqlite3.Connection, what: str) -> int:
    """The schema version of a sound database of ours, else :class:`BackupError`."""
    try:
        check = conn.execute("PRAGMA integrity_check").fetchall()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        users = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                             "AND name = 'users'").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"{what} is not a readable SQLite database ({exc}).") from None
    if check != [("ok",)]:
        raise BackupError(f"{what} is corrupt: {check[0][0]}.")
    if version > len(schema.MIGRATIONS):
        raise BackupError(f"{what} has schema version {version}, newer than this program's "
                          f"{len(schema.MIGRATIONS)}; use a newer release.")
    if version < 1 or users is None:
        raise BackupError(f"{what} is an SQLite database, but not the bot's.")
    return version


def _readable_file(path: Path, what: str) -> None:
    try:
        with path.open("rb") as file:
            header = file.read(len(HEADER))
    except IsADirectoryError:
        raise BackupError(f"{what} {path} is a folder, not a database file.") from None
    except OSError as exc:
        raise BackupError(f"Cannot read {what.lower()} {path}: {exc.strerror}.") from None
    if header != HEADER:
        raise BackupError(f"{what} {path} is not an SQLite database.")


def _remove(path: Path) -> None:
    """Best effort: a temp file that was never made (no such folder) is no error."""
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        with contextlib.suppress(OSError):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _in_one_line(failed: str, cannot: str, temp: Path) -> Iterator[None]:
    """SQLite and OS errors as one :class:`BackupError` line; ``temp`` is removed either way."""
    try:
        yield
    except sqlite3.Error as exc:
        raise BackupError(f"{failed}: {exc}.") from None
    except OSError as exc:
        raise BackupError(f"{cannot}: {exc.strerror}.") from None
    finally:
        _remove(temp)


def backup(db_path: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy the database at ``db_path`` to ``target`` (replaced atomically); the target."""
    db_path, target = Path(db_path), Path(target)
    _readable_file(db_path, "The database")
    if target.is_dir():
        raise BackupError(f"{target} is a folder; give the backup file's name.")
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with _in_one_line(f"The backup to {target} failed", f"Cannot write the backup {target}",
                      temp):
        source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True,
                                 timeout=BUSY_TIMEOUT_MS / 1000)
        copy = sqlite3.connect(temp)
        try:
            verify(source, "The database")
            source.backup(copy)  # all pages in one step: one read transaction, a snapshot
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            verify(copy, "The backup")
        finally:
            copy.close()
            source.close()
        os.replace(temp, target)
    return target


def rotate(db_path: str | os.PathLike, folder: str | os.PathLike, keep: int,
           now: datetime) -> Path:
    """Back up to ``folder/bot-YYYYmmddTHHMMSSZ.sqlite3`` (``now`` in UTC; naive means
    UTC) and delete the oldest such backups beyond ``keep``; the new file."""
    if keep < 1:
        raise BackupError(f"Keep at least one backup, not {keep}.")
    folder = Path(folder)
    stamp = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create the backup folder {folder}: {exc.strerror}.") from None
    made = backup(db_path, folder / f"bot-{stamp:%Y%m%dT%H%M%SZ}.sqlite3")
    ours = sorted(p for p in folder.iterdir() if NAME.match(p.name))  # names sort by time
    for old in ours[:-keep]:
        old.unlink(missing_ok=True)
    return made


def restore(source: str | os.PathLike, db_path: str | os.PathLike) -> int:
    """Replace the database at ``db_path`` with the backup ``source``, migrated up to date;
    the schema version. A file that is not a sound database of ours changes nothing."""
    source, db_path = Path(source), Path(db_path)
    _readable_file(source, "The backup")
    temp = db_path.with_name(f".{db_path.name}.restore-{os.getpid()}.tmp")
    with _in_one_line(f"Restoring into {db_path} failed", f"Cannot restore into {db_path}",
                      temp):
        db_path.parent.mkdir(parents=True, exist_ok=True)
        version = _migrated_copy(source, temp)
        if _broken(db_path):
            _replace(temp, db_path)
        else:
            _copy_into(temp, db_path)
    return version


def _migrated_copy(source: Path, temp: Path) -> int:
    """Copy ``source`` to ``temp``, check it and migrate the copy; its schema version."""
    shutil.copyfile(source, temp)  # the backup itself is never migrated or changed
    check = sqlite3.connect(temp)
    try:
        verify(check, f"The backup {source}")
    finally:
        check.close()
    with Storage(temp) as migrated:
        return migrated.schema_version()


def _broken(db_path: Path) -> bool:
    """Whether there is a file at ``db_path`` that SQLite cannot read soundly."""
    if not db_path.exists():
        return False
    try:
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            return conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return True


def _copy_into(temp: Path, db_path: Path) -> None:
    """The backup API into the live file: one write transaction, all of it or none."""
    copy = sqlite3.connect(temp)
    live = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        copy.backup(live)
    finally:
        live.close()
        copy.close()


def _replace(temp: Path, db_path: Path) -> None:
    """A live file SQLite cannot write into is replaced whole by an atomic rename; its
    stale WAL and journal go first, or SQLite would apply them to the new file."""
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    os.replace(temp, db_path)
