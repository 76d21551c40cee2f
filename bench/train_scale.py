"""Spark ALS training time at ML-25M size, per iteration, on synthetic power-law data.

Generates 25,000,000 ratings of 162,000 users and 59,000 items (Zipf-distributed
activity and popularity, half-star ratings) as Parquet, then fits ALS with the
default parameters (or ``--rank``) for 1 and for ``--iters`` iterations, after one
discarded warm-up fit; the difference gives the time per iteration, the rest is
setup. Run it on an otherwise idle machine. Prints one JSON object.
Usage: ``python -m bench.train_scale [--ratings 25000000] [--iters 5] [--rank 64]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.pipeline import peak_rss_mib
from recommender.settings import Settings
from recommender.spark import start_spark
from recommender.train import TrainParams, fit_als


def synthetic_ratings(path: Path, n: int, users: int, items: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    user_weights = 1.0 / np.arange(1, users + 1) ** 0.8
    item_weights = 1.0 / np.arange(1, items + 1) ** 1.0
    writer = None
    for start in range(0, n, 5_000_000):
        size = min(5_000_000, n - start)
        table = pa.table({
            "user_id": pa.array(rng.choice(users, size, p=user_weights / user_weights.sum())
                                + 1, pa.int32()),
            "item_id": pa.array(rng.choice(items, size, p=item_weights / item_weights.sum())
                                + 1, pa.int32()),
            "rating": pa.array(rng.integers(1, 11, size) / 2, pa.float32()),
        })
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratings", type=int, default=25_000_000)
    parser.add_argument("--users", type=int, default=162_000)
    parser.add_argument("--items", type=int, default=59_000)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--rank", type=int, default=TrainParams().rank)
    parser.add_argument("--driver-memory", default="12g")
    args = parser.parse_args()
    settings = replace(Settings.from_env(), spark_driver_memory=args.driver_memory)
    params = replace(TrainParams(), rank=args.rank)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        path = Path(tmp) / "ratings.parquet"
        started = time.perf_counter()
        synthetic_ratings(path, args.ratings, args.users, args.items)
        generate_s = time.perf_counter() - started
        spark = start_spark(settings, app_name="bench-scale")
        frame = spark.read.parquet(str(path))
        warm_up = fit_als(frame, replace(params, max_iter=1)).seconds
        one = fit_als(frame, replace(params, max_iter=1)).seconds
        many = fit_als(frame, replace(params, max_iter=args.iters)).seconds
        jvm_peak = peak_rss_mib(spark.sparkContext._gateway.proc.pid)
        spark.stop()
    per_iter = (many - one) / (args.iters - 1)
    print(json.dumps({
        "benchmark": "train-scale", "ratings": args.ratings, "users": args.users,
        "items": args.items, "params": asdict(params), "spark_master": settings.spark_master,
        "driver_memory": args.driver_memory, "generate_s": round(generate_s, 1),
        "warm_up_fit_s": warm_up,
        "fit_1_iter_s": one, f"fit_{args.iters}_iter_s": many,
        "per_iteration_s": round(per_iter, 1), "setup_s": round(one - per_iter, 1),
        f"estimated_{params.max_iter}_iter_s": round(one + per_iter * (params.max_iter - 1)),
        "jvm_peak_rss_mib": jvm_peak, "cores": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
