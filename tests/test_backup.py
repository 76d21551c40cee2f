"""Backups and restores of the bot's database, the nightly rotation and a full disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storage import Storage, StorageFull
from storage.backup import BackupError, backup, restore, rotate
from storage.schema import MIGRATIONS, V1
from tests.datafiles import foreign_sqlite

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "live" / "bot.sqlite3"
    with Storage(path) as store:
        uid = store.user("telegram", 1, "Ann")
        store.like(uid, 50)
        store.rate(uid, 7, 4.5)
    return path


def ratings(path: Path) -> list[tuple]:
    with Storage(path) as store:
        return store.ratings_of(store.user("telegram", 1))


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "storage", *args], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_backup_and_restore_round_trip(db: Path, tmp_path: Path):
    saved = backup(db, tmp_path / "copy.sqlite3")
    assert not Path(f"{saved}-wal").exists()  # one self-contained file
    with Storage(db) as store:
        store.forget(store.user("telegram", 1))
    assert restore(saved, db) == len(MIGRATIONS)
    assert ratings(db) == [(7, 4.5), (50, 5.0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.sqlite3", "live"]  # no temp


def test_backup_while_the_bot_writes_is_a_consistent_snapshot(db: Path, tmp_path: Path):
    stop, wrote = threading.Event(), threading.Event()

    def write() -> None:
        with Storage(db) as store:
            uid = store.user("telegram", 1)
            item = 1000
            while not stop.is_set():
                store.log_shown(uid, [item, item + 1, item + 2], "recommend")
                item += 3
                wrote.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert wrote.wait(60)
        for n in range(3):
            copy = backup(db, tmp_path / f"b{n}.sqlite3")
            with Storage(copy) as store:
                assert store.integrity_ok()
                # Every batch of three is there whole or not at all.
                assert store.stats()["shown"] % 3 == 0
    finally:
        stop.set()
        writer.join(60)


def test_restore_migrates_an_older_backup(tmp_path: Path):
    old = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(old)
    conn.executescript(V1 + "PRAGMA user_version = 1;")
    conn.execute("INSERT INTO users (platform, platform_user_id, created_ts) "
                 "VALUES ('telegram', '1', 0)")
    conn.commit()
    conn.close()
    before = old.read_bytes()
    live = tmp_path / "bot.sqlite3"
    assert restore(old, live) == len(MIGRATIONS)
    with Storage(live) as store:
        assert store.schema_version() == len(MIGRATIONS)
        assert store.join_group("telegram:5", store.user("telegram", 1))
    assert old.read_bytes() == before  # the backup itself is left as it was


def newer(path: Path) -> Path:
    with Storage(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(os.urandom(8192)) and p, "is not an SQLite database"),
    (lambda p: p.write_bytes(b"") or p, "is not an SQLite database"),
    (foreign_sqlite, "not the bot's"),
    (newer, "newer than this program's"),
    (lambda p: p, "No such file"),
    (lambda p: p.mkdir() or p, "is a folder"),
])
def test_restore_refuses_what_is_not_ours_and_changes_nothing(db: Path, tmp_path: Path,
                                                                make, message):
    bad = tmp_path / "bad.sqlite3"
    make(bad)
    live = db.read_bytes()
    with pytest.raises(BackupError, match=message):
        restore(bad, db)
    assert db.read_bytes() == live
    assert ratings(db) == [(7, 4.5), (50, 5.0)]
    assert sorted(p.name for p in db.parent.iterdir() if "tmp" in p.name) == []


def test_a_corrupt_backup_is_refused(db: Path, tmp_path: Path):
    copy = backup(db, tmp_path / "copy.sqlite3")
    data = bytearray(copy.read_bytes())
    data[4096 * 2:4096 * 3] = os.urandom(4096)  # a table page of garbage
    copy.write_bytes(bytes(data))
    live = db.read_bytes()
    with pytest.raises(BackupError, match=r"corrupt|not a readable"):
        restore(copy, db)
    assert db.read_bytes() == live


def test_backup_refuses_a_missing_or_foreign_database(tmp_path: Path):
    with pytest.raises(BackupError, match="No such file"):
        backup(tmp_path / "none.sqlite3", tmp_path / "b.sqlite3")
    with pytest.raises(BackupError, match="not the bot's"):
        backup(foreign_sqlite(tmp_path / "other.sqlite3"), tmp_path / "b.sqlite3")
    assert not (tmp_path / "none.sqlite3").exists()  # never created by looking
    assert not (tmp_path / "b.sqlite3").exists()


def test_rotate_keeps_the_newest(db: Path, tmp_path: Path):
    folder = tmp_path / "backups"
    start = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)
    made = [rotate(db, folder, 3, start + timedelta(days=n)) for n in range(5)]
    assert made[0].name == "bot-20261120T023000Z.sqlite3"
    (folder / "notes.txt").write_text("not a backup")
    rotate(db, folder, 3, datetime(2026, 11, 25, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")))
    assert sorted(p.name for p in folder.iterdir()) == [
        "bot-20261123T023000Z.sqlite3", "bot-20261124T023000Z.sqlite3",
        "bot-20261125T023000Z.sqlite3", "notes.txt"]
    assert ratings(folder / "bot-20261125T023000Z.sqlite3") == [(7, 4.5), (50, 5.0)]


def test_cli_backup_and_restore_read_db_path(db: Path, tmp_path: Path):
    out = cli("backup", str(tmp_path / "b.sqlite3"), env={"DB_PATH": str(db)})
    assert out.returncode == 0, out.stderr
    with Storage(db) as store:
        store.unlike(store.user("telegram", 1), 50)
    out = cli("restore", str(tmp_path / "b.sqlite3"), env={"DB_PATH": str(db)})
    assert out.returncode == 0, out.stderr
    assert "schema version" in out.stdout
    assert ratings(db) == [(7, 4.5), (50, 5.0)]


def test_cli_defaults_to_the_data_dir(db: Path, tmp_path: Path):
    env = {"DATA_DIR": str(db.parent), "DB_PATH": ""}
    out = cli("backup", "b.sqlite3", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "b.sqlite3").exists()


@pytest.mark.parametrize("args", [
    ("restore", "missing.sqlite3"),
    ("restore", "."),
    ("restore", "junk.bin"),
    ("backup", "nowhere/deeper/b.sqlite3"),
    ("backup", "junk.bin/b.sqlite3"),
])
def test_cli_errors_are_one_line_and_exit_2(db: Path, tmp_path: Path, args):
    (tmp_path / "junk.bin").write_bytes(b"hello world, not a database" * 100)
    live = db.read_bytes()
    out = cli(*args, "--db", str(db), cwd=tmp_path)
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
    assert db.read_bytes() == live


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_cli_permission_denied_is_one_line(db: Path, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        out = cli("backup", str(locked / "b.sqlite3"), "--db", str(db))
    finally:
        locked.chmod(0o700)
    assert out.returncode == 2
    assert len(out.stderr.splitlines()) == 1 and "Traceback" not in out.stderr


# A full disk: SQLITE_FULL from a page limit on the connection, the same error a full disk
# gives. The write is rolled back whole and storage says so with StorageFull.

def fill(store: Storage) -> None:
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_changes_nothing(tmp_path: Path):
    with Storage(tmp_path / "bot.sqlite3") as store:
        uid = store.user("telegram", 1)
        store.like(uid, 50)
        fill(store)
        with pytest.raises(StorageFull, match="full"):
            store.log_shown(uid, list(range(100_000, 105_000)), "recommend")
        assert store.stats()["shown"] == 0
        assert store.ratings_of(uid) == [(50, 5.0)]
        assert store.integrity_ok()


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(os.urandom(9000)),
    lambda p: p.write_bytes(p.read_bytes()[:5000]),
])
def test_restore_replaces_a_broken_live_database(db: Path, tmp_path: Path, damage):
    saved = backup(db, tmp_path / "copy.sqlite3")
    damage(db)
    Path(f"{db}-wal").write_bytes(os.urandom(4096))  # a stale WAL must not be applied
    assert restore(saved, db) == len(MIGRATIONS)
    assert ratings(db) == [(7, 4.5), (50, 5.0)]
    with Storage(db) as store:
        assert store.integrity_ok()
