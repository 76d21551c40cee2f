"""Atomic folder publishing: build in a staging folder beside the target, then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def staging_dir(parent: Path, name: str) -> Path:
    """An empty hidden folder in ``parent`` (same file system, so renames are atomic).

    Unlike ``mkdtemp``'s private 0700, it gets the permissions of any new folder.
    """
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o777 & ~umask)
    return path


def replace_dir(staging: Path, target: Path) -> None:
    """Swap ``staging`` into ``target``; an old ``target`` is removed after the swap."""
    old = None
    if target.exists():
        old = target.with_name(f".old-{target.name}-{time.time_ns()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
