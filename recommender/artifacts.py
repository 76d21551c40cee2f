"""Versioned model artifacts in ``models/<version>/`` and the ``models/current`` pointer.

An artifact is written into a temporary folder, renamed into place, and only then
``current`` (a relative symlink) is swapped atomically, so a reader never sees a
half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recommender.errors import ModelError
from recommender.fsutil import staging_dir

CURRENT = "current"
MODEL_JSON = "model.json"
ITEM_FACTORS = "item_factors.npy"
ITEM_IDS = "item_ids.npy"
POPULARITY = "popularity.npy"
ITEMS_JSONL = "items.jsonl"


def new_version(now: datetime | None = None) -> str:
    """A sortable version name such as ``20261124T221530Z``."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def current_dir(models_dir: Path) -> Path | None:
    """The folder ``models/current`` points to, or None when there is no model."""
    pointer = models_dir / CURRENT
    if not pointer.is_symlink() and not pointer.exists():
        return None
    target = pointer.resolve()
    return target if (target / MODEL_JSON).is_file() else None


def write_artifact(models_dir: Path, *, item_ids: np.ndarray, item_factors: np.ndarray,
                   popularity: np.ndarray, items: list[dict], meta: dict,
                   version: str | None = None) -> Path:
    """Write and publish one model; return its folder."""
    n = len(item_ids)
    if item_factors.shape[0] != n or popularity.shape[0] != n:
        raise ModelError(f"artifact arrays disagree: {n} ids, {item_factors.shape[0]} "
                         f"factor rows, {popularity.shape[0]} popularity entries")
    if not np.isfinite(item_factors).all():
        raise ModelError("training produced non-finite item factors; refusing to publish")
    models_dir.mkdir(parents=True, exist_ok=True)
    version = version or new_version()
    while (models_dir / version).exists():  # two trainings in one second
        version = f"{version.split('.')[0]}.{time.time_ns() % 10_000:04d}"
    staging = staging_dir(models_dir, version)
    try:
        np.save(staging / ITEM_IDS, item_ids.astype(np.int64))
        np.save(staging / ITEM_FACTORS, item_factors.astype(np.float32))
        np.save(staging / POPULARITY, popularity.astype(np.int64))
        with (staging / ITEMS_JSONL).open("w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
        meta = {**meta, "version": version, "n_items": n, "rank": int(item_factors.shape[1])}
        (staging / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n")
        final = models_dir / version
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    point_current(models_dir, version)
    return final


def point_current(models_dir: Path, version: str) -> None:
    """Atomically make ``models/current`` point to ``models/<version>``."""
    if not (models_dir / version / MODEL_JSON).is_file():
        raise ModelError(f"no model {version} in {models_dir}")
    tmp = models_dir / f".current-{os.getpid()}-{time.time_ns()}"
    os.symlink(version, tmp)
    os.replace(tmp, models_dir / CURRENT)
