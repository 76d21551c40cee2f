"""``python -m storage backup PATH`` and ``python -m storage restore PATH``.

The database is ``--db``, else ``DB_PATH``, else ``$DATA_DIR/bot.sqlite3`` (``DATA_DIR``
defaults to ``data``), read from the environment over ``.env`` like the bot reads them.
Stop the bot before a restore. A failure prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dotenv import dotenv_values

from storage.backup import backup, restore
from storage.db import StorageError


def default_db() -> Path:
    """DB_PATH, else $DATA_DIR/bot.sqlite3: the environment over ``.env``."""
    env = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    env.update(os.environ)
    return Path(env.get("DB_PATH") or Path(env.get("DATA_DIR") or "data") / "bot.sqlite3")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("backup", "restore"),
                        help="backup: copy the database to PATH; restore: replace it by PATH")
    parser.add_argument("path", type=Path, help="the backup file")
    parser.add_argument("--db", type=Path, default=None,
                        help="the database (default: DB_PATH or $DATA_DIR/bot.sqlite3)")
    args = parser.parse_args(argv)
    db = args.db or default_db()
    try:
        if args.action == "backup":
            backup(db, args.path)
            print(f"Backed up {db} to {args.path}.")
        else:
            version = restore(args.path, db)
            print(f"Restored {args.path} into {db} (schema version {version}).")
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
