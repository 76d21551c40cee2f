"""``python -m jobs``: retrain now, roll back, or show the schedule and the last run.

``retrain`` exits 0 when a new model is live, 1 when the quality gate rejected it,
2 when the training failed (or timed out, or was killed) and 3 when another
training was already running, so cron or an Airflow task can act on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from recommender.errors import DatasetNotFound, RecommenderError
from recommender.settings import Settings

EXIT = {"published": 0, "rejected": 1, "busy": 3}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("retrain", help="train on MovieLens plus the bot's ratings now, "
                                        "publish if it passes the quality gate")
    commands.add_parser("rollback", help="make the previous model current again")
    commands.add_parser("status", help="schedule, next runs, last run, models kept")
    commands.add_parser("worker", help=argparse.SUPPRESS)  # the child `retrain` starts
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    try:
        settings = Settings.from_env()
        if args.command == "worker":
            return worker(settings)
        return {"retrain": _retrain, "rollback": _rollback, "status": _status}[args.command](
            settings)
    except RecommenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _retrain(settings: Settings) -> int:
    from jobs.runner import run_retrain

    result = run_retrain(settings, trigger="cli", progress=lambda m: print(m, flush=True))
    print(result.summary())
    return EXIT.get(result.status, 2)


def _rollback(settings: Settings) -> int:
    from recommender.artifacts import rollback

    old, new = rollback(settings.models_dir)
    print(f"models/current now points to {new} (was {old}). A running bot switches to it "
          "within seconds.")
    return 0


def _status(settings: Settings) -> int:
    for line in status_lines(settings):
        print(line)
    return 0


def status_lines(settings: Settings, now=None, running_here: bool = False) -> list[str]:
    """Schedule, next runs, last and running training, models kept (also for /stats)."""
    from jobs.lock import TrainingLock
    from jobs.runner import read_state, utc_now
    from jobs.schedule import describe, next_runs, trigger
    from recommender.artifacts import current_dir, versions

    now = now or utc_now()
    lines = [f"Retraining: {describe(settings)}"]
    cron = trigger(settings)
    if cron is not None:
        upcoming = ", ".join(t.strftime("%Y-%m-%d %H:%M %Z") for t in next_runs(cron, now, 2))
        lines.append(f"Next runs: {upcoming}")
    state = read_state(settings)
    last = state.get("last")
    if last:
        lines.append(f"Last run: {last.get('finished')} ({last.get('trigger')}), "
                     f"{last.get('status')}"
                     + (f": {last['version']}" if last.get("version") else "")
                     + (f", {last['message']}" if last.get("message") else ""))
    else:
        lines.append("Last run: none yet")
    holder = TrainingLock(settings.models_dir).holder()
    running = state.get("running") or {}
    if holder is not None or running_here:
        since = (holder or {}).get("started") or running.get("started") or "a moment ago"
        lines.append(f"Running now: since {since}")
    found = current_dir(settings.models_dir)
    kept = versions(settings.models_dir)
    lines.append(f"Models kept: {len(kept)} of up to {settings.keep_models}; current "
                 f"{found.name if found else 'none'}")
    return lines


def worker(settings: Settings) -> int:
    """The child process: take the lock, train, and report through marked lines."""
    import shutil

    from jobs.lock import Busy, TrainingLock
    from jobs.retrain import retrain
    from jobs.runner import MARK
    from recommender.spark import jvm_gone, start_spark, stop_spark

    def emit(event: str, **fields: object) -> None:
        print(MARK + json.dumps({"event": event, **fields}, default=str), flush=True)

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
            record = retrain(spark, settings, lambda m: emit("progress", message=m))
        finally:
            stop_spark(spark)
        emit("result", **record)
        return 0
    except RecommenderError as exc:
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
