"""``python -m jobs``: retrain now, roll back, or show the schedule and the last run;
``train`` is ``python -m recommender train`` on the data set plus the bot's ratings.

``retrain`` exits 0 when a new model is live, 1 when the quality gate rejected it,
2 when the training failed (or timed out, or was killed) and 3 when another
training was already running, so cron or an Airflow task can act on it.

Each command reads its settings once: ``train`` the recommender's, every other one a
:class:`jobs.settings.JobSettings` (the recommender's and retraining's).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from jobs.settings import JobSettings
from recommender.cli import add_train_arguments, run_command, run_train
from recommender.errors import DatasetNotFound, RecommenderError
from recommender.settings import Settings
from storage import StorageError

EXIT = {"published": 0, "rejected": 1, "busy": 3}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("retrain", help="train on MovieLens plus the bot's ratings now, "
                                        "publish if it passes the quality gate")
    add_train_arguments(commands.add_parser(
        "train", help="train on the data set plus the bot's ratings and publish, with no "
                      "quality gate (the first model: 'make run', the Docker image)"))
    commands.add_parser("rollback", help="make the previous model current again")
    commands.add_parser("status", help="schedule, next runs, last run, models kept")
    commands.add_parser("worker", help=argparse.SUPPRESS)  # the child `retrain` starts
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return run_command(lambda settings: _train(args, settings),
                           errors=(RecommenderError, StorageError))
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    try:
        settings = JobSettings.from_env()
        if args.command == "worker":
            return worker(settings)
        return {"retrain": _retrain, "rollback": _rollback, "status": _status}[args.command](
            settings)
    except (RecommenderError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from jobs.bot_data import read_bot_ratings

    return run_train(args, settings, extra=lambda: read_bot_ratings(settings.db_path))


def _retrain(settings: JobSettings) -> int:
    from jobs.runner import run_retrain

    result = run_retrain(settings, trigger="cli", progress=lambda m: print(m, flush=True))
    print(result.summary())
    return EXIT.get(result.status, 2)


def _rollback(settings: JobSettings) -> int:
    from recommender.artifacts import rollback

    old, new = rollback(settings.recommender.models_dir)
    print(f"models/current now points to {new} (was {old}). A running bot switches to it "
          "within seconds.")
    return 0


def _status(settings: JobSettings) -> int:
    from jobs.status import status_lines

    for line in status_lines(settings):
        print(line)
    return 0


def worker(job_settings: JobSettings) -> int:
    """The child process: take the lock, train, and report through marked lines."""
    import shutil

    from jobs.lock import Busy, TrainingLock
    from jobs.retrain import retrain
    from jobs.runner import MARK
    from recommender.spark import jvm_gone, start_spark, stop_spark

    def emit(event: str, **fields: object) -> None:
        print(MARK + json.dumps({"event": event, **fields}, default=str), flush=True)

    settings = job_settings.recommender
    try:
        lock = TrainingLock(settings.models_dir).acquire("retrain")
    except Busy as exc:
        emit("busy", message=str(exc))
        return 3
    try:
        # Leftovers of a killed run: its half-written staging folders.
        for stale in settings.models_dir.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if not (settings.processed_dir / "ratings").is_dir():  # say so before Spark starts
            raise DatasetNotFound(f"No processed data in {settings.processed_dir}; run "
                                  "'python -m recommender data prepare' first")
        emit("progress", message=f"Starting Spark ({settings.spark_master}) ...")
        spark = start_spark(settings, app_name="retrain")
        try:
            record = retrain(spark, job_settings, lambda m: emit("progress", message=m))
        finally:
            stop_spark(spark)
        emit("result", **record)
        return 0
    except (RecommenderError, StorageError) as exc:
        emit("error", message=str(exc))
        return 2
    except Exception as exc:
        if not jvm_gone(exc):
            raise
        emit("error", message=f"Spark's JVM stopped unexpectedly ({type(exc).__name__}); "
                              "if it ran out of memory, raise SPARK_DRIVER_MEMORY")
        return 2
    finally:
        lock.release()
