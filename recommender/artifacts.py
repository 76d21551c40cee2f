"""Versioned model artifacts in ``models/<version>/`` and the ``models/current`` pointer.

An artifact is written into a temporary folder, renamed into place, and only then
``current`` (a relative symlink) is swapped atomically, so a reader never sees a
half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

from recommender.content import ContentFactors
from recommender.errors import ModelError
from recommender.fsutil import staging_dir
from recommender.neighbours import Neighbours

CURRENT = "current"
MODEL_JSON = "model.json"
ITEM_FACTORS = "item_factors.npy"
ITEM_IDS = "item_ids.npy"
POPULARITY = "popularity.npy"
MEAN_RATING = "mean_rating.npy"
ITEMS_JSONL = "items.jsonl"
NEIGHBOURS = "neighbours.npz"  # optional: item-item like cosines (recommender/neighbours.py)
# Optional: factors predicted from content for items without trained ones
# (recommender/content.py); a model without it serves them with the content rule.
CONTENT_FACTORS = "content_factors.npz"


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
                   popularity: np.ndarray, mean_rating: np.ndarray, items: list[dict],
                   meta: dict, version: str | None = None, publish: bool = True,
                   neighbours: Neighbours | None = None,
                   content: ContentFactors | None = None) -> Path:
    """Write one model and (unless ``publish`` is false) point ``current`` at it."""
    n = len(item_ids)
    if item_factors.shape[0] != n or popularity.shape[0] != n or mean_rating.shape[0] != n:
        raise ModelError(f"artifact arrays disagree: {n} ids, {item_factors.shape[0]} "
                         f"factor rows, {popularity.shape[0]} popularity entries, "
                         f"{mean_rating.shape[0]} mean ratings")
    if not np.isfinite(item_factors).all():
        raise ModelError("training produced non-finite item factors; refusing to publish")
    models_dir.mkdir(parents=True, exist_ok=True)
    version = version or new_version()
    base, n = version, 0
    while (models_dir / version).exists():  # two in one second: -01, -02 keep the order
        n += 1
        version = f"{base}-{n:02d}"
    staging = staging_dir(models_dir, version)
    try:
        np.save(staging / ITEM_IDS, item_ids.astype(np.int64))
        np.save(staging / ITEM_FACTORS, item_factors.astype(np.float32))
        np.save(staging / POPULARITY, popularity.astype(np.int64))
        np.save(staging / MEAN_RATING, mean_rating.astype(np.float32))
        if neighbours is not None:
            np.savez(staging / NEIGHBOURS, item_ids=neighbours.item_ids,
                     indptr=neighbours.indptr, ids=neighbours.ids, sims=neighbours.sims)
        if content is not None and len(content.item_ids):
            np.savez(staging / CONTENT_FACTORS, item_ids=content.item_ids.astype(np.int64),
                     factors=content.factors.astype(np.float32))
            meta = {**meta, "content": content.info}
        with (staging / ITEMS_JSONL).open("w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
        meta = {**meta, "version": version, "n_items": n, "rank": int(item_factors.shape[1])}
        (staging / MODEL_JSON).write_text(json.dumps(meta, indent=2) + "\n")
        final = models_dir / version
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if publish:
        point_current(models_dir, final.name)
    return final


def point_current(models_dir: Path, version: str) -> None:
    """Atomically make ``models/current`` point to ``models/<version>``."""
    if not (models_dir / version / MODEL_JSON).is_file():
        raise ModelError(f"no model {version} in {models_dir}")
    tmp = models_dir / f".current-{os.getpid()}-{time.time_ns()}"
    os.symlink(version, tmp)
    os.replace(tmp, models_dir / CURRENT)


def versions(models_dir: Path) -> list[str]:
    """Every model folder's name, oldest first (names sort by time)."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir()
                  if not p.name.startswith(".") and p.name != CURRENT and p.is_dir()
                  and not p.is_symlink() and (p / MODEL_JSON).is_file())


def rollback(models_dir: Path) -> tuple[str, str]:
    """Point ``current`` at the newest sound model older than it; return (from, to).

    Models that fail validation are skipped, so a rollback never lands on a broken one.
    """
    found = current_dir(models_dir)
    if found is None:
        raise ModelError(f"No current model in {models_dir}; nothing to roll back from.")
    for version in reversed([v for v in versions(models_dir) if v < found.name]):
        try:
            read_artifact(models_dir / version)
        except ModelError:
            continue
        point_current(models_dir, version)
        return found.name, version
    raise ModelError(f"There is no sound model older than {found.name} in {models_dir} "
                     "to roll back to.")


def prune(models_dir: Path, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest models, never the current one; return the names."""
    found = current_dir(models_dir)
    current = found.name if found is not None else None
    names = versions(models_dir)
    doomed = [v for v in names[:max(len(names) - keep, 0)] if v != current]
    for version in doomed:
        shutil.rmtree(models_dir / version, ignore_errors=True)
    return doomed


# What serving reads of an item; the rest (crews, runtime) was for training. Dropping it
# line by line keeps the bot's heap small: 87,000 full dicts cost ~150 MB at load.
SERVED_FIELDS = ("item_id", "title", "year", "genres", "kind", "alt_titles", "imdb_id",
                 "imdb_rating", "imdb_votes")


def _served(item: dict, shared: dict[tuple, tuple]) -> dict:
    """The fields serving reads, repeated values (genres, kinds) shared: ``shared`` keeps
    one tuple per genre combination, a few thousand for ML-32M's 87,000 items."""
    kept = {k: item[k] for k in SERVED_FIELDS if item.get(k) is not None}
    if "genres" in kept:
        genres = tuple(sys.intern(str(g)) for g in kept["genres"])
        kept["genres"] = shared.setdefault(genres, genres)
    if "kind" in kept:
        kept["kind"] = sys.intern(str(kept["kind"]))
    return kept


def read_artifact(folder: Path, neighbours_later: bool = False) -> dict:
    """Load and validate an artifact; the keyword arguments of ``Recommender``.

    Refuses (with :class:`ModelError`) missing files, wrong dtypes or shapes,
    repeated ids and non-finite factors, so a broken model is never served.
    ``neighbours_later``: the like neighbours come as a function that reads and checks
    them when called (the bot reads them once the items' metadata is in place and the
    parsed items are gone: both at once were its peak memory at ML-32M).
    """
    def fail(why: str) -> ModelError:
        return ModelError(f"Model {folder} is unusable: {why}. Retrain it with "
                          "'python -m recommender train'.")

    if not (folder / MODEL_JSON).is_file():
        raise fail("model.json is missing")
    try:
        meta = json.loads((folder / MODEL_JSON).read_text())
        ids = np.load(folder / ITEM_IDS, allow_pickle=False)
        factors = np.load(folder / ITEM_FACTORS, allow_pickle=False)
        popularity = np.load(folder / POPULARITY, allow_pickle=False)
        mean_rating = np.load(folder / MEAN_RATING, allow_pickle=False)
        with (folder / ITEMS_JSONL).open(encoding="utf-8") as handle:
            shared: dict[tuple, tuple] = {}
            items = [_served(json.loads(line), shared) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise fail(f"{type(exc).__name__}: {exc}") from None
    if factors.dtype != np.float32 or factors.ndim != 2:
        raise fail(f"item factors are {factors.dtype} with {factors.ndim} dimensions, "
                   "expected a float32 matrix")
    if ids.dtype.kind != "i" or ids.ndim != 1 or len(np.unique(ids)) != len(ids):
        raise fail("item ids are not unique integers")
    n = len(ids)
    if factors.shape[0] != n or popularity.shape != (n,) or mean_rating.shape != (n,):
        raise fail(f"{n} item ids but {factors.shape[0]} factor rows, "
                   f"{popularity.shape[0]} popularity and {mean_rating.shape[0]} mean ratings")
    if not np.isfinite(factors).all():
        raise fail("item factors contain NaN or infinity")
    if meta.get("rank") != factors.shape[1]:
        raise fail(f"model.json says rank {meta.get('rank')}, factors have {factors.shape[1]}")
    neighbours = (partial(_read_neighbours, folder, ids, fail) if neighbours_later
                  else _read_neighbours(folder, ids, fail))
    content = _read_content(folder, ids, factors.shape[1], meta, fail)
    return {"item_ids": ids, "item_factors": factors, "popularity": popularity,
            "mean_rating": mean_rating, "items": items, "params": meta.get("params", {}),
            "version": str(meta.get("version", folder.name)), "meta": meta,
            "neighbours": neighbours, "content": content}


def _read_content(folder: Path, ids: np.ndarray, rank: int, meta: dict,
                  fail) -> ContentFactors | None:
    """The content-predicted factors (None for a model written before they existed)."""
    path = folder / CONTENT_FACTORS
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            found = ContentFactors(saved["item_ids"], saved["factors"], meta.get("content", {}))
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{CONTENT_FACTORS}: {type(exc).__name__}: {exc}") from None
    item_ids, factors = found.item_ids, found.factors
    if item_ids.dtype.kind != "i" or len(np.unique(item_ids)) != len(item_ids):
        raise fail(f"{CONTENT_FACTORS}: item ids are not unique integers")
    if factors.dtype != np.float32 or factors.shape != (len(item_ids), rank):
        raise fail(f"{CONTENT_FACTORS}: factors are {factors.dtype} {factors.shape}, expected "
                   f"float32 ({len(item_ids)}, {rank})")
    if not np.isfinite(factors).all():
        raise fail(f"{CONTENT_FACTORS}: factors contain NaN or infinity")
    if np.isin(item_ids, ids).any():
        raise fail(f"{CONTENT_FACTORS} predicts items that have trained factors")
    return found


def _read_neighbours(folder: Path, ids: np.ndarray, fail) -> Neighbours | None:
    """The published like neighbours (None for a model written before they existed)."""
    path = folder / NEIGHBOURS
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            # Read one array at a time and convert as serving keeps them (similarities in
            # float16, ids int32 as published): the bot never holds two copies of either.
            sims = saved["sims"].astype(np.float16)
            linked = saved["ids"]
            if linked.dtype not in (np.int32, np.int64):
                linked = linked.astype(np.int64)
            found = Neighbours(saved["item_ids"].astype(np.int64),
                               saved["indptr"].astype(np.int64), linked, sims, scratch=True)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"{NEIGHBOURS}: {type(exc).__name__}: {exc}") from None
    if not np.isin(found.item_ids, ids).all():
        raise fail(f"{NEIGHBOURS} names items the model does not have")
    problem = found.validate()
    if problem:
        raise fail(f"{NEIGHBOURS}: {problem}")
    return found
