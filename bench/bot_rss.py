"""Peak memory of the bot: ``python -m bot`` (the console chat) serving the current model.

A scripted new user likes a few titles and asks for recommendations through piped
input, as ``make run`` would run it without a token; the scheduler is off so no
training child is counted. Prints one JSON object with the bot process's peak RSS.
Usage: ``python -m bench.bot_rss``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "/like star wars\n/like toy story\n/like fargo\n/recommend\n/more\n/why 1\n"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bot-rss-") as tmp:
        env = {**os.environ, "RETRAIN_CRON": "off", "DB_PATH": str(Path(tmp) / "bot.sqlite3")}
        env.pop("TELEGRAM_TOKEN", None)
        env.pop("DISCORD_TOKEN", None)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "bot"], input=SCRIPT, text=True,
                              capture_output=True, env=env, timeout=300)
        seconds = time.monotonic() - started
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"benchmark": "bot-rss", "peak_rss_mb": round(peak, 1),
                      "seconds": round(seconds, 1), "replied": "because you liked" in done.stdout,
                      "machine": {"cores": os.cpu_count(), "python": platform.python_version()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
