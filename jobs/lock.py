"""One training at a time, across processes, surviving crashes.

The lock is an ``flock`` on ``models/.retrain.lock``: the kernel drops it when the
holding process dies however it dies (SIGKILL included), so a stale lock can never
block the next run. The file also says who holds it, for status messages.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from recommender.errors import RecommenderError

LOCK_NAME = ".retrain.lock"


class Busy(RecommenderError):
    """Another training holds the lock."""


class TrainingLock:
    def __init__(self, models_dir: Path) -> None:
        self.path = models_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, purpose: str = "training") -> TrainingLock:
        """Take the lock now or raise :class:`Busy`; never waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.holder()
            since = f", started {holder['started']}" if holder else ""
            who = f" (process {holder['pid']}{since})" if holder else ""
            raise Busy(f"A training is already running{who}.") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "purpose": purpose,
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # before unlocking: a reader never sees a stale holder
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TrainingLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def is_held(self) -> bool:
        """Whether some process (this one included) holds the lock right now."""
        if self._fd is not None:
            return True
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's shared lock
        return False

    def holder(self) -> dict | None:
        """Who holds the lock (pid, purpose, start time), or None when nobody does."""
        if not self.is_held():
            return None
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None
