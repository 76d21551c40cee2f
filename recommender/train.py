"""Train implicit-feedback ALS with Spark on the processed ratings; publish an artifact."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recommender.artifacts import write_artifact
from recommender.errors import DatasetNotFound
from recommender.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SEED = 42


@dataclass(frozen=True)
class TrainParams:
    """ALS hyperparameters. The rating itself is the preference (confidence 1 + alpha*r)."""

    rank: int = 32
    reg_param: float = 0.1
    alpha: float = 1.0
    max_iter: int = 10


def data_fingerprint(processed_dir: Path) -> str:
    """A hash of the processed tables' file names and sizes: changes when the data does."""
    digest = hashlib.sha256()
    for path in sorted(processed_dir.rglob("*.parquet")):
        digest.update(f"{path.relative_to(processed_dir)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def train(spark: SparkSession, settings: Settings, params: TrainParams = TrainParams(),
          say=print) -> Path:
    """Fit ALS on ``data/processed/ratings`` and publish ``models/<version>``."""
    import pyspark
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    processed = settings.processed_dir
    if not (processed / "ratings").is_dir() or not (processed / "items").is_dir():
        raise DatasetNotFound(
            f"No processed data in {processed}; run 'python -m recommender data prepare' first."
        )
    started = time.monotonic()
    ratings = spark.read.parquet(str(processed / "ratings")).select(
        "user_id", "item_id", F.col("rating").cast("float").alias("rating")).cache()
    n_ratings = ratings.count()
    n_users = ratings.select("user_id").distinct().count()
    say(f"Training ALS (rank {params.rank}, {params.max_iter} iterations) on "
        f"{n_ratings:,} ratings from {n_users:,} users ...")
    als = ALS(rank=params.rank, maxIter=params.max_iter, regParam=params.reg_param,
              alpha=params.alpha, implicitPrefs=True, userCol="user_id", itemCol="item_id",
              ratingCol="rating", coldStartStrategy="drop", seed=SEED)
    model = als.fit(ratings)
    rows = model.itemFactors.orderBy("id").collect()
    item_ids = np.array([r["id"] for r in rows], dtype=np.int64)
    factors = np.array([r["features"] for r in rows], dtype=np.float32).reshape(len(rows), -1)
    counts = dict(ratings.groupBy("item_id").count().collect())
    popularity = np.array([counts.get(int(i), 0) for i in item_ids], dtype=np.int64)
    items = [_plain(r.asDict()) for r in
             spark.read.parquet(str(processed / "items")).orderBy("item_id").collect()]
    ratings.unpersist()
    seconds = round(time.monotonic() - started, 1)
    meta = {
        "algorithm": "spark-als-implicit",
        "params": asdict(params),
        "seed": SEED,
        "counts": {"ratings": n_ratings, "users": n_users, "items_with_factors": len(item_ids),
                   "items": len(items)},
        "metrics": {},
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": seconds,
        "spark_master": spark.sparkContext.master,
        "data_fingerprint": data_fingerprint(processed),
        "data": _ingest_source(processed),
        "versions": {"python": platform.python_version(), "pyspark": pyspark.__version__,
                     "numpy": np.__version__},
    }
    folder = write_artifact(settings.models_dir, item_ids=item_ids, item_factors=factors,
                            popularity=popularity, items=items, meta=meta)
    say(f"Model {folder.name} published in {folder} ({seconds:.1f} s).")
    return folder


def _plain(row: dict) -> dict:
    """A Spark Row dict with only JSON types (arrays become lists)."""
    return {k: (list(v) if isinstance(v, tuple | list) else v) for k, v in row.items()}


def _ingest_source(processed: Path) -> str | None:
    path = processed / "ingest.json"
    return json.loads(path.read_text()).get("source") if path.is_file() else None
