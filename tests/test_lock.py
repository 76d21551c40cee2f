"""One training at a time: the lock is exclusive and dies with whoever held it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.lock import Busy, TrainingLock

ROOT = Path(__file__).resolve().parent.parent
HOLD = ("import sys; from pathlib import Path; from jobs.lock import TrainingLock; "
        "TrainingLock(Path(sys.argv[1])).acquire('test'); print('locked', flush=True); "
        "sys.stdin.read()")


def holding_process(models: Path) -> subprocess.Popen:
    """Another process that takes the lock and keeps it until killed or its stdin closes."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(models)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_holder_is_refused_until_the_first_releases(tmp_path):
    first = TrainingLock(tmp_path).acquire()
    assert TrainingLock(tmp_path).is_held()
    with pytest.raises(Busy, match=f"process {os.getpid()}"):
        TrainingLock(tmp_path).acquire()
    first.release()
    assert not TrainingLock(tmp_path).is_held()
    with TrainingLock(tmp_path):
        assert TrainingLock(tmp_path).holder()["pid"] == os.getpid()
    assert TrainingLock(tmp_path).holder() is None


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    child = holding_process(tmp_path)
    assert TrainingLock(tmp_path).holder()["pid"] == child.pid
    with pytest.raises(Busy):
        TrainingLock(tmp_path).acquire()
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdin.close()
    child.stdout.close()
    assert TrainingLock(tmp_path).holder() is None  # its pid is still in the file
    TrainingLock(tmp_path).acquire().release()
