"""Chat under load: simulated users through the real python-telegram-bot.

``python -m bot`` runs as its own process, exactly as ``make run`` starts it with a token,
pointed at the fake Bot API on 127.0.0.1 (``tests/fake_telegram.py``) and serving the
current model (``MODELS_DIR``). N users then talk to it at once, each sending a new
user's first conversation (``/start``, two likes, a rating, ``/recommend``, ``/watch``,
``/likes``) and waiting for the bot's answer before the next message, as people do.

Prints one JSON object: messages per second, first-reply latency p50/p99 (from the
moment an update is queued at the fake API to the first ``sendMessage`` into that chat),
the bot process's CPU milliseconds per message (user + system, from ``/proc``, everything
the process did during the burst: polling, the rate limiter, the core, SQLite), replies
lost, and the bot's peak RSS. The bot throttles itself to Telegram's limits (about 30
messages a second), so with many users that limit, not the bot, sets the pace.

Usage: ``python -m bench.chat [--users 200] [--messages 7]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.fake_telegram import FakeTelegram

SCRIPT = ("/start", "/like toy story", "/like fargo", "/rate star wars 4.5", "/recommend",
          "/watch alien", "/likes")
FIRST_USER = 100_000
PROBE_USER = 99_999
PROBE_MESSAGES = 10 * len(SCRIPT)
THINK = 0.2


class Users(FakeTelegram):
    """The fake Bot API plus the users: each reply into a chat sends that user's next
    message, until their script is done. ``on_reply`` is called with each reply's chat."""

    def __init__(self) -> None:
        super().__init__()
        self.max_poll_hold = 10.0  # an idle bot long-polls, as with Telegram
        self._guard = threading.Lock()
        self._scripts: dict[int, list[str]] = {}
        self._sent_at: dict[int, float] = {}  # chat -> when its pending message was queued
        self._left = 0
        self.latencies: list[float] = []
        self.finished = threading.Event()

    def talk(self, scripts: dict[int, list[str]]) -> None:
        """Start a round: every chat sends its first message at once."""
        with self._guard:
            self._scripts, self._left, self.latencies = dict(scripts), len(scripts), []
            self.finished.clear()
        for chat in scripts:
            self._next_message(chat)

    def _next_message(self, chat: int) -> None:
        with self._guard:
            script = self._scripts[chat]
            if not script:
                self._left -= 1
                if self._left == 0:
                    self.finished.set()
                return
            self._sent_at[chat] = time.monotonic()
        self.send_text(script.pop(0), user_id=chat)

    def _send_message(self, params: dict) -> dict:
        message = super()._send_message(params)
        chat = int(params["chat_id"])
        with self._guard:
            queued = self._sent_at.pop(chat, None)
            if queued is not None:
                self.latencies.append(time.monotonic() - queued)
        if queued is not None:
            self._next_message(chat)
        return message


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, to the nanosecond (the scheduler's count for
    each of its threads; /proc/PID/stat only counts 10 ms ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def scripts(users: int, messages: int, first: int) -> dict[int, list[str]]:
    return {first + u: [SCRIPT[i % len(SCRIPT)] for i in range(messages)]
            for u in range(users)}


def one_user(api: FakeTelegram, pid: int, messages: int, ceiling: float) -> dict:
    """CPU per message, message by message: one user alone, who reads each answer for a
    moment (THINK seconds, idle for the bot) before typing the next message; a message's
    cost is the bot's CPU from its arrival to the bot's reply."""
    costs: list[float] = []
    for i in range(messages):
        before = cpu_seconds(pid)
        count = len(api.calls("sendMessage"))
        api.send_text(SCRIPT[i % len(SCRIPT)], user_id=PROBE_USER)
        api.wait_for("sendMessage", count + 1, timeout=ceiling)
        costs.append(1000 * (cpu_seconds(pid) - before))
        time.sleep(THINK)  # the user reading, not a wait for the bot
    return {"messages": len(costs), "think_s": THINK,
            "cpu_ms_p50": round(percentile(costs, 50), 2),
            "cpu_ms_p99": round(percentile(costs, 99), 2),
            "cpu_ms_mean": round(statistics.fmean(costs), 2)}


def crowd(api: Users, pid: int, users: int, messages: int, ceiling: float) -> dict:
    """Everyone at once: throughput, first-reply latency, CPU per message on average."""
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    api.talk(scripts(users, messages, FIRST_USER))
    done = api.finished.wait(ceiling)
    wall, cpu = time.monotonic() - started, cpu_seconds(pid) - cpu_before
    answered = len(api.latencies)
    return {"users": users, "messages_per_user": messages, "finished": done,
            "lost_replies": users * messages - answered, "seconds": round(wall, 1),
            "messages_per_s": round(answered / wall, 1),
            "first_reply_p50_s": round(percentile(api.latencies, 50), 3),
            "first_reply_p99_s": round(percentile(api.latencies, 99), 3),
            "cpu_ms_per_message": round(1000 * cpu / max(answered, 1), 2),
            "cpu_share_of_one_core": round(cpu / wall, 2)}


def run(users: int, messages: int, ceiling: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp, Users() as api:
        env = {**os.environ, "TELEGRAM_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.api_url,
               "RETRAIN_CRON": "off", "BACKUP_CRON": "off",
               "DB_PATH": str(Path(tmp) / "bot.sqlite3")}
        env.pop("DISCORD_TOKEN", None)
        bot = subprocess.Popen([sys.executable, "-m", "bot"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            api.wait_for("getUpdates", 1, timeout=120)  # started: menu set, polling
            alone = one_user(api, bot.pid, PROBE_MESSAGES, ceiling)
            burst = crowd(api, bot.pid, users, messages, ceiling)
            rss = peak_rss_mb(bot.pid)
        finally:
            bot.send_signal(signal.SIGTERM)
            out, err = bot.communicate(timeout=120)
    return {"benchmark": "chat", "one_user": alone, "burst": burst,
            "bot_peak_rss_mb": round(rss, 1), "bot_exit_code": bot.returncode,
            "tracebacks_in_log": (out + err).count("Traceback"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "load_average_1m": os.getloadavg()[0]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=len(SCRIPT))
    parser.add_argument("--ceiling", type=float, default=900.0,
                        help="seconds to wait for the last reply")
    args = parser.parse_args(argv)
    result = run(args.users, args.messages, args.ceiling)
    print(json.dumps(result))
    burst = result["burst"]
    return 0 if burst["finished"] and burst["lost_replies"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
