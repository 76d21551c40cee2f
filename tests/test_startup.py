"""A database file that is not the bot's at startup: one clear line, exit 2, file untouched."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from storage import Storage, StorageError
from storage.schema import MIGRATIONS
from tests.bot_model import bot_env
from tests.datafiles import foreign_sqlite


def random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(16_384))


def unrelated_table(path: Path) -> None:
    foreign_sqlite(path)


def newer_schema(path: Path) -> None:
    unrelated_table(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()


def corrupt_page(path: Path) -> None:
    with Storage(path) as store:
        uid = store.user("telegram", 1)
        for item in range(2000):
            store.like(uid, item)
    data = bytearray(path.read_bytes())
    data[4096 * 3:4096 * 4] = b"\xff" * 4096
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("make", "message"), [
    (random_bytes, "not a database"),
    (unrelated_table, "another program"),
    (newer_schema, "newer"),
    (corrupt_page, "corrupt|malformed"),
])
def test_storage_refuses_and_leaves_the_file_alone(tmp_path: Path, make, message):
    path = tmp_path / "bot.sqlite3"
    make(path)
    before = path.read_bytes()
    with pytest.raises(StorageError, match=message):
        Storage(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("make", [random_bytes, unrelated_table])
def test_the_bot_refuses_a_file_that_is_not_its_database(tmp_path: Path, make):
    path = tmp_path / "elsewhere" / "bot.sqlite3"
    path.parent.mkdir()
    make(path)
    before = path.read_bytes()
    env = bot_env(tmp_path, DB_PATH=str(path))
    out = subprocess.run([sys.executable, "-m", "bot"], env=env, cwd=tmp_path, input="",
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert str(path) in lines[0] and "Traceback" not in out.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["bot.sqlite3"]  # no -wal
