"""Time the data pipeline on this machine: Spark start, ingest, ALS training.

Usage: ``python -m bench.pipeline [--dataset ml-100k] [--repeat 3]``. Needs the data
set fetched (``python -m recommender data fetch``). Works in a scratch copy of
``DATA_DIR``/``MODELS_DIR`` so the user's processed data and models are untouched.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from jobs.bot_data import read_bot_ratings
from recommender.ingest import ingest
from recommender.settings import Settings
from recommender.spark import start_spark
from recommender.train import TrainParams, train


def peak_rss_mib(pid: int) -> float | None:
    """Peak resident memory of a process (Linux /proc), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = Settings.from_env()
    dataset = args.dataset or base.dataset
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        data_dir = Path(tmp) / "data"
        shutil.copytree(base.raw_dir / dataset, data_dir / "raw" / dataset)
        settings = replace(base, data_dir=data_dir, models_dir=Path(tmp) / "models")
        started = time.perf_counter()
        spark = start_spark(settings, app_name="bench")
        spark_start = time.perf_counter() - started
        ingest_s, train_s = [], []
        params = TrainParams()
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            summary = ingest(spark, settings, dataset=dataset, say=lambda *_: None)
            ingest_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            # As `python -m jobs train` does: the data set plus the bot's ratings.
            train(spark, settings, params, say=lambda *_: None,
                  extra=read_bot_ratings(settings.db_path))
            train_s.append(time.perf_counter() - t0)
        jvm_pid = spark.sparkContext._gateway.proc.pid
        jvm_peak = peak_rss_mib(jvm_pid)
        spark.stop()
    print(json.dumps({
        "benchmark": "pipeline",
        "dataset": dataset,
        "ratings": summary.ratings_kept,
        "users": summary.users,
        "items": summary.movies + summary.tv_shows,
        "spark_master": settings.spark_master,
        "spark_start_s": round(spark_start, 2),
        "ingest_s_first": round(ingest_s[0], 2),
        "ingest_s_median": round(statistics.median(ingest_s), 2),
        "train_s_first": round(train_s[0], 2),
        "train_s_median": round(statistics.median(train_s), 2),
        "als": {"rank": params.rank, "max_iter": params.max_iter},
        "jvm_peak_rss_mib": jvm_peak,
        "python_peak_rss_mib": peak_rss_mib(os.getpid()),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.system(), "processor": platform.machine()},
        "repeat": args.repeat,
    }))


if __name__ == "__main__":
    main()
