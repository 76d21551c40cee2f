"""Does the bot keep answering while it retrains? Latency of /recommend before, during
and after a real retraining (the child process, the gate, the swap).

Copies ``models/current`` into a temporary models folder, starts the bot's core with
the retraining service, keeps one simulated user sending ``/recommend`` and asks
``/retrain`` as an admin. Prints one JSON object.
Usage: ``python -m bench.retrain [--out bench/results/retrain.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from bot.app import load_model, start_jobs
from bot.core import SORRY, Conversation, UserRef
from bot.matching import TitleIndex
from jobs.settings import JobSettings
from recommender.artifacts import CURRENT, current_dir
from recommender.serve import Recommender
from storage import Storage

ADMIN = UserRef("bench", "admin", "admin")
USER = UserRef("bench", "user", "user")


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"requests": len(samples), "p50_ms": round(pick(0.5) * 1e3, 2),
            "p99_ms": round(pick(0.99) * 1e3, 2), "max_ms": round(ordered[-1] * 1e3, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    configured = JobSettings.from_env()
    base = configured.recommender
    source = current_dir(base.models_dir)
    if source is None:
        raise SystemExit("No model; run 'make run' first.")
    tmp = Path(tempfile.mkdtemp(prefix="bench-retrain-"))
    models = tmp / "models"
    models.mkdir()
    shutil.copytree(source, models / source.name)
    os.symlink(source.name, models / CURRENT)
    settings = replace(base, models_dir=models, db_path=tmp / "bot.sqlite3")
    storage = Storage(settings.db_path)
    bot = Conversation(load_model(models), storage, admin_ids=(ADMIN.platform_user_id,))
    phases: list[tuple[float, str]] = []
    bot.add_outbox("bench", lambda _uid, text: phases.append((time.monotonic(), text)))
    # Only the /retrain below trains: no nightly run, no missed one at start.
    service = start_jobs(bot, JobSettings(settings, replace(configured.retrain, cron="off")))
    for title in ("star wars", "fargo", "toy story", "the godfather", "alien"):
        bot.handle_text(USER, f"/like {title}")

    samples: dict[str, list[float]] = {"idle": [], "during": [], "after": []}
    failures = 0
    phase = "idle"
    stop = threading.Event()

    def ask() -> None:
        nonlocal failures
        while not stop.is_set():
            started = time.perf_counter()
            text = bot.handle_text(USER, "/recommend 10")[0].text
            samples[phase].append(time.perf_counter() - started)
            failures += text == SORRY or "1. " not in text

    asker = threading.Thread(target=ask)
    asker.start()
    time.sleep(3)
    phase = "during"
    first = bot.recommender.version
    started = time.monotonic()
    bot.handle_text(ADMIN, "/retrain")
    outcome = service.wait()
    retrain_seconds = time.monotonic() - started
    phase = "after"
    time.sleep(3)
    stop.set()
    asker.join()
    service.stop()

    load_started = time.perf_counter()
    rec = Recommender.load(models / outcome.version) if outcome.version else bot.recommender
    TitleIndex.from_recommender(rec)
    swap_prepare = time.perf_counter() - load_started
    result = {
        "benchmark": "retrain-while-serving", "data": base.dataset,
        "outcome": outcome.status, "from": first, "to": bot.recommender.version,
        "retrain_seconds": round(retrain_seconds, 1),
        "progress": [{"t": round(t - started, 1), "message": m} for t, m in phases],
        "recommend_latency": {k: percentiles(v) for k, v in samples.items() if v},
        "failed_or_empty_replies": failures,
        "swap_prepare_seconds": round(swap_prepare, 3),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "spark_master": settings.spark_master},
        "mean_recommend_ms_idle": round(statistics.mean(samples["idle"]) * 1e3, 2),
    }
    storage.close()
    shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
