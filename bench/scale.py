"""The first run and the nightly retraining at ML-32M scale, measured as a user gets them.

With the mirror of ``bench.mirror`` served on 127.0.0.1 and ``MOVIELENS_BASE_URL`` /
``IMDB_BASE_URL`` pointing at it, in a scratch ``DATA_DIR``/``MODELS_DIR``, each step runs
as the subprocess ``make run`` (or cron) runs:

1. ``python -m recommender data fetch --dataset ml-32m --imdb`` (the download; reported
   apart, since a real one depends on the network),
2. ``python -m recommender data prepare --dataset ml-32m --imdb`` (the ingest),
3. ``python -m jobs train --if-missing`` (the first model),
4. ``python -m jobs retrain`` (the nightly retraining, with its quality gate),
5. ``/recommend`` latency against the published model beside a bare one-core numpy
   matrix-vector product + top-k over the same factors (``python -m bench.scale probe``),
6. the console bot's peak RSS with that model loaded.

The process tree of every step is sampled through ``/proc`` (VmRSS, VmHWM) for the peak
memory of the JVM and of Python; every output line is logged with its time since the
step began (``<work>/logs/<step>.log``), which gives the phases. Prints one JSON object
and saves it to ``bench/results/scale.json``.

Reproduce::

    python -m bench.mirror generate --out /work/scale-data/mirror      # once, ~5-10 min
    python -m bench.scale --mirror /work/scale-data/mirror --work /work/scale-data/run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np

from bench.mirror import RangeHandler

RESULTS = Path(__file__).with_name("results") / "scale.json"
STEPS = {
    "fetch": ["-m", "recommender", "data", "fetch", "--dataset", "ml-32m", "--imdb"],
    "prepare": ["-m", "recommender", "data", "prepare", "--dataset", "ml-32m", "--imdb"],
    "train": ["-m", "jobs", "train", "--if-missing"],
    "retrain": ["-m", "jobs", "retrain"],
}
TARGETS = {"first_run_s": 15 * 60, "jvm_peak_gib": 10, "retrain_s": 10 * 60,
           "bot_rss_mb": 300, "p99_over_floor": 1.5}


def _kib(status: str, key: str) -> int:
    for line in status.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc (the JVM is a grandchild)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


class MemorySampler(threading.Thread):
    """Polls a process tree; keeps each kind's (java / python) peak VmHWM and the peak of
    the tree's summed VmRSS, in MiB."""

    def __init__(self, root: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peaks: dict[str, float] = {"jvm_peak_mib": 0.0, "python_peak_mib": 0.0,
                                        "tree_rss_peak_mib": 0.0}
        self._halt = threading.Event()

    def sample(self) -> None:
        total = 0
        for pid in _tree(self.root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            except OSError:
                continue
            total += _kib(status, "VmRSS:")
            kind = "jvm_peak_mib" if exe.startswith("java") else "python_peak_mib"
            self.peaks[kind] = max(self.peaks[kind], _kib(status, "VmHWM:") / 1024)
        self.peaks["tree_rss_peak_mib"] = max(self.peaks["tree_rss_peak_mib"], total / 1024)

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.every)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        return {k: round(v, 1) for k, v in self.peaks.items()}


def run_step(name: str, args: list[str], env: dict[str, str], logs: Path,
             stdin: str | None = None) -> dict:
    """Run ``python <args>``, log its output with times, sample its memory."""
    started = time.monotonic()
    log = (logs / f"{name}.log").open("w")
    child = subprocess.Popen([sys.executable, *args], env=env, text=True,
                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sampler = MemorySampler(child.pid)
    sampler.start()
    if stdin is not None:
        child.stdin.write(stdin)
        child.stdin.close()
    tail: list[str] = []
    for line in child.stdout:
        log.write(f"{time.monotonic() - started:8.1f} {line}")
        log.flush()
        tail = [*tail, line.rstrip()][-5:]
    code = child.wait()
    seconds = time.monotonic() - started
    log.close()
    return {"step": name, "seconds": round(seconds, 1), "exit": code, **sampler.stop(),
            "load_after": [round(x, 2) for x in os.getloadavg()], "tail": tail}


def serve_mirror(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = lambda *a, **k: RangeHandler(*a, directory=str(folder), **k)  # noqa: E731
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def probe(requests: int) -> dict:
    """``recommend`` p50/p99 on the published model beside the bare numpy floor."""
    from bench.serve import measure, percentiles, timed_ms
    from recommender.serve import Recommender

    rec = Recommender.load()
    factors = np.ascontiguousarray(rec.factors, dtype=np.float32)
    rng = np.random.default_rng(1)
    with_factors = np.flatnonzero(rec.has_factors)
    users = [factors[rng.choice(with_factors, 20, replace=False)].sum(axis=0)
             for _ in range(requests)]

    def floor(vector: np.ndarray) -> np.ndarray:
        scores = factors @ vector
        top = np.argpartition(scores, -10)[-10:]
        return top[np.argsort(-scores[top])]

    bare = percentiles(timed_ms(floor, users, warm_up=50))
    ours = measure(rec, requests)
    return {"model": rec.version, "items": len(rec.ids), "rank": int(factors.shape[1]),
            "recommend": {k: ours[k] for k in ("p50_ms", "p99_ms", "mean_ms")},
            "numpy_floor": bare,
            "p99_over_floor": round(ours["p99_ms"] / bare["p99_ms"], 2),
            "probe_peak_rss_mb": ours["peak_rss_mb"], "load": os.getloadavg()}


def bot_script(models_dir: Path) -> str:
    """Likes of three popular titles of the model, then what ``bench.bot_rss`` asks."""
    from recommender import artifacts

    current = artifacts.current_dir(models_dir)
    lines = (current / artifacts.ITEMS_JSONL).read_text().splitlines() if current else []
    items = [json.loads(line) for line in lines]
    top = sorted(items, key=lambda i: -(i.get("popularity") or 0))[:3]
    # With the year: a synthetic title alone often matches several films.
    likes = "".join(f"/like {i['title']} ({i['year']})\n" for i in top) or "/like star wars\n"
    return likes + "/recommend\n/more\n/why 1\n"


def environment(work: Path, url: str, driver_memory: str | None) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(work / "data"), "MODELS_DIR": str(work / "models"),
           "DB_PATH": str(work / "bot.sqlite3"), "DATASET": "ml-32m",
           "MOVIELENS_BASE_URL": url, "IMDB_BASE_URL": url, "RETRAIN_CRON": "off",
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    for name in ("TELEGRAM_TOKEN", "DISCORD_TOKEN"):
        env.pop(name, None)
    if driver_memory:
        env["SPARK_DRIVER_MEMORY"] = driver_memory
    return env


def verdict(steps: dict, serve: dict | None) -> dict:
    """Each figure beside its target."""
    jvm = max((s.get("jvm_peak_mib", 0) for s in steps.values()), default=0) / 1024
    out = {"jvm_peak_gib": [round(jvm, 2), TARGETS["jvm_peak_gib"]]}
    if "prepare" in steps and "train" in steps:  # the first run is both, download excluded
        first = steps["prepare"]["seconds"] + steps["train"]["seconds"]
        out["first_run_s"] = [round(first, 1), TARGETS["first_run_s"]]
    if "retrain" in steps:
        out["retrain_s"] = [steps["retrain"]["seconds"], TARGETS["retrain_s"]]
    if "bot" in steps:
        out["bot_rss_mb"] = [steps["bot"]["python_peak_mib"], TARGETS["bot_rss_mb"]]
    if serve:
        out["p99_over_floor"] = [serve["p99_over_floor"], TARGETS["p99_over_floor"]]
    return {k: {"value": v, "target": t, "ok": v <= t} for k, (v, t) in out.items()}


def measure_all(args: argparse.Namespace) -> dict:
    work = args.work
    if args.fresh and work.exists():
        shutil.rmtree(work)
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    httpd, url = serve_mirror(args.mirror)
    env = environment(work, url, args.driver_memory)
    steps: dict[str, dict] = {}
    try:
        for name in args.steps:
            if name in STEPS:
                steps[name] = run_step(name, STEPS[name], env, logs)
            elif name == "bot":
                steps[name] = run_step("bot", ["-m", "bot"], env, logs,
                                       stdin=bot_script(work / "models"))
            print(json.dumps(steps.get(name, {})), file=sys.stderr, flush=True)
    finally:
        httpd.shutdown()
    serve = None
    if "probe" in args.steps:
        done = subprocess.run([sys.executable, "-m", "bench.scale", "probe", "--requests",
                               str(args.requests)], env=env, capture_output=True, text=True)
        serve = json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr[-800:]}
    return {"benchmark": "scale", "steps": steps, "serve": serve,
            "targets": verdict(steps, serve if serve and "error" not in serve else None),
            "driver_memory": env.get("SPARK_DRIVER_MEMORY", "default (settings.py)"),
            "load_end": [round(x, 2) for x in os.getloadavg()],
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                                         / 2**30, 1)}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "probe"])
    parser.add_argument("--mirror", type=Path, default=Path("/work/scale-data/mirror"))
    parser.add_argument("--work", type=Path, default=Path("/work/scale-data/run"))
    parser.add_argument("--steps", nargs="+",
                        default=["fetch", "prepare", "train", "retrain", "bot", "probe"])
    parser.add_argument("--driver-memory", help="SPARK_DRIVER_MEMORY for the Spark steps")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--fresh", action="store_true", help="delete --work first")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.command == "probe":
        print(json.dumps(probe(args.requests)))
        return
    result = measure_all(args)
    text = json.dumps(result, indent=1)
    print(text)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
