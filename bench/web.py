"""The web app's server-side time per interaction: new visitors through bot/web.py.

Each visitor is a fresh browser session (Streamlit's ``AppTest``, which runs the script
with Streamlit's own script runner in this process, as the server does) going through a
first visit: open the page, search "star wars", like it, search "fargo", rate it, open
the recommendations, ask for picks, add the first to the watchlist, page on, ask why,
open the watchlist and the model page. Every interaction is one script run.

``server_ms`` is what the server spends on it: the run of the script as Streamlit
executes it (widget callbacks, so the core and SQLite, the title search, the model, and
building every element of the page), timed around Streamlit's
``exec_func_with_error_handling``. ``apptest_ms`` is the harness's wall time around the
same run, which adds AppTest's start-up, its polling sleeps and its parsing of the page
(it is not what a server does, and shown only for reference). The first visitor warms
the caches (model load) and is not counted.

Prints one JSON object: p50/p95/p99/max milliseconds per interaction overall and per
step, the catalogue, and the machine. Uses ``MODELS_DIR`` (the served model) and a fresh
database in a temporary folder.

Usage: ``MODELS_DIR=models python -m bench.web [--visitors 30]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# As `python -m bot --web` runs the server: no usage statistics gathered.
os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")

from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

WEB = Path(__file__).resolve().parent.parent / "bot" / "web.py"
_script_ms: list[float] = []


def _timed(run: Callable) -> Callable:
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            _script_ms.append((time.perf_counter() - start) * 1000)
    return timed


script_runner.exec_func_with_error_handling = _timed(script_runner.exec_func_with_error_handling)


def pick(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if label in b.label).click()


def steps() -> list[tuple[str, Callable[[AppTest], AppTest]]]:
    """(name, what the visitor does before the run) for one first visit."""
    page = lambda name: lambda at: at.sidebar.radio(key="page").set_value(name)  # noqa: E731
    typed = lambda text: lambda at: at.text_input(key="query").input(text)  # noqa: E731
    return [("open", lambda at: at), ("search", typed("star wars")),
            ("like", lambda at: pick(at, "Like")), ("search", typed("fargo")),
            ("stars", lambda at: at.select_slider[0].set_value(4.5)),
            ("rate", lambda at: pick(at, "Rate")), ("page", page("Recommendations")),
            ("recommend", lambda at: pick(at, "Recommend")),
            ("watch", lambda at: pick(at, "Watchlist")),
            ("more", lambda at: pick(at, "More picks")), ("why", lambda at: pick(at, "Why")),
            ("watchlist", page("Watchlist & likes")), ("about", page("About the model"))]


def visit(server: dict[str, list[float]], harness: list[float]) -> None:
    at = AppTest.from_file(str(WEB), default_timeout=120)
    for name, act in steps():
        target = act(at)
        _script_ms.clear()
        start = time.perf_counter()
        target.run()
        harness.append((time.perf_counter() - start) * 1000)
        assert not at.exception, at.exception
        server.setdefault(name, []).append(sum(_script_ms))  # a rerun request: both runs


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 \
        else ordered * 99
    return {"p50": round(cut[49], 1), "p95": round(cut[94], 1), "p99": round(cut[98], 1),
            "max": round(ordered[-1], 1), "n": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update({"DATA_DIR": folder, "DB_PATH": str(Path(folder, "bot.sqlite3")),
                           "RETRAIN_CRON": "off", "BACKUP_CRON": "off"})
        visit({}, [])  # warm: the model, its title index, Python's imports
        timings: dict[str, list[float]] = {}
        harness: list[float] = []
        for _ in range(args.visitors):
            visit(timings, harness)
        from bot.visit import served

        rec = served().recommender
    everything = [t for values in timings.values() for t in values]
    print(json.dumps({
        "benchmark": "web interaction (server side, AppTest)",
        "model": rec.version, "data": rec.meta.get("data"), "titles": len(rec.ids),
        "visitors": args.visitors, "interactions": len(everything),
        "server_ms": summary(everything),
        "per_step_server_ms": {name: summary(values) for name, values in timings.items()},
        "apptest_ms": summary(harness),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.system(), "processor": platform.machine(),
                    "load_average": [round(x, 2) for x in os.getloadavg()]},
    }, indent=2))


if __name__ == "__main__":
    main()
