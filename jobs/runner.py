"""Run one retraining in a child process and report what happened.

The child (``python -m jobs worker``) does the Spark work and prints progress lines
marked ``@@jobs``; everything else it prints (Spark's own chatter) goes to
``models/.retrain.log``. The parent never touches Spark, so the bot keeps answering,
and it enforces the timeout by killing the child's whole process group (its JVM
included). The last outcome is kept in ``models/.retrain-state.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jobs.lock import TrainingLock
from jobs.settings import JobSettings
from recommender.settings import Settings

log = logging.getLogger(__name__)

MARK = "@@jobs "
STATE_FILE = ".retrain-state.json"
LOG_FILE = ".retrain.log"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """How one retraining ended: published, rejected, failed, timeout, killed or busy."""

    status: str
    message: str
    trigger: str = "cli"
    started: str = ""
    finished: str = ""
    version: str | None = None
    previous: str | None = None
    new_score: float | None = None
    old_score: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "published"

    def summary(self) -> str:
        """What happened, in a sentence or two, for admins."""
        if self.status == "published":
            old = (f" (was {self.old_score:.4f} for {self.previous})"
                   if self.old_score is not None else "")
            new_user = self.details.get("new_user_score")
            was = self.details.get("old_new_user_score")
            fresh = (f"; new-user nDCG@10 {new_user:.4f}"
                     + (f" (was {was:.4f})" if was is not None else "")
                     if new_user is not None else "")
            bot = self.details.get("bot_ratings")
            extra = (f"; includes {bot:,} rating{'s' if bot != 1 else ''} from the bot's users"
                     if bot else "")
            return (f"✅ New model {self.version} is live. Held-out nDCG@10 "
                    f"{self.new_score:.4f}{old}{fresh}{extra}.")
        if self.status == "rejected":
            return (f"⚠️ The new model was rejected: {self.message}. Still serving "
                    f"{self.previous}.")
        if self.status == "busy":
            return f"⏳ {self.message}"
        serving = f" Still serving {self.previous}." if self.previous else ""
        return f"❌ Retraining {self.status}: {self.message}.{serving}"


def read_state(settings: Settings) -> dict:
    """The last recorded run (``last``) and the one in progress (``running``), if any."""
    path = settings.models_dir / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(settings: Settings, **changes: object) -> None:
    state = {**read_state(settings), **changes}
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    path = settings.models_dir / STATE_FILE
    tmp = path.with_name(f"{STATE_FILE}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, path)


def worker_command() -> list[str]:
    return [sys.executable, "-m", "jobs", "worker"]


def run_retrain(job_settings: JobSettings, *, trigger: str = "cli",
                progress: Callable[[str], None] = lambda _m: None,
                clock: Callable[[], datetime] = utc_now) -> Outcome:
    """Train in a child process (given all of ``job_settings``, stopped after its
    ``retrain.timeout``); return how it ended. Never raises for a failed training."""
    from recommender.artifacts import current_dir

    settings = job_settings.recommender
    started = clock()
    found = current_dir(settings.models_dir)
    previous = found.name if found is not None else None

    def outcome(status: str, message: str, **extra: object) -> Outcome:
        return Outcome(status, message, trigger, started.isoformat(timespec="seconds"),
                       clock().isoformat(timespec="seconds"), previous=previous,
                       **extra)  # type: ignore[arg-type]

    holder = TrainingLock(settings.models_dir).holder()
    if holder is not None:
        return outcome("busy", f"A training is already running (process {holder.get('pid')}, "
                               f"started {holder.get('started')}); not starting another")
    _write_state(settings, running={"trigger": trigger, "started": started.isoformat(
        timespec="seconds")})
    try:
        result = _run_child(job_settings, progress, outcome)
    finally:
        _write_state(settings, running=None)
    if result.status != "busy":
        _write_state(settings, last=asdict(result))
    return result


def _run_child(job_settings: JobSettings, progress: Callable[[str], None],
               outcome: Callable[..., Outcome]) -> Outcome:
    settings, timeout = job_settings.recommender, job_settings.retrain.timeout
    env = {**os.environ, **job_settings.to_env(), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    env.pop("TELEGRAM_TOKEN", None)  # the child needs no secrets
    env.pop("DISCORD_TOKEN", None)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.models_dir / LOG_FILE
    timed_out = threading.Event()
    with log_path.open("w") as log_file:
        child = subprocess.Popen(worker_command(), stdout=subprocess.PIPE, stderr=log_file,
                                 stdin=subprocess.DEVNULL, env=env, text=True,
                                 start_new_session=True)  # its own group: JVM dies with it

        def kill_on_timeout() -> None:
            timed_out.set()
            _kill_group(child.pid)

        timer = threading.Timer(timeout, kill_on_timeout)
        timer.daemon = True
        timer.start()
        final: dict | None = None
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if not line.startswith(MARK):
                    log_file.write(line)
                    continue
                try:
                    event = json.loads(line[len(MARK):])
                except ValueError:
                    continue
                if event.get("event") == "progress":
                    progress(str(event.get("message", "")))
                else:
                    final = event
            code = child.wait()
        finally:
            timer.cancel()
            _kill_group(child.pid)  # nothing of a finished or dead child may linger
    if timed_out.is_set():
        return outcome("timeout", f"it took longer than RETRAIN_TIMEOUT="
                                  f"{timeout} s and was stopped")
    if final is not None and final.get("event") == "result":
        return outcome(final["status"], final.get("reason", ""), version=final.get("version"),
                       new_score=final.get("new_score"), old_score=final.get("old_score"),
                       details={k: final[k] for k in ("bot_ratings", "bot_users", "ratings",
                                                      "new_user_score", "old_new_user_score",
                                                      "seconds", "removed") if k in final})
    if final is not None and final.get("event") == "busy":
        return outcome("busy", str(final.get("message", "a training is already running")))
    if code < 0:
        name = signal.Signals(-code).name
        return outcome("killed", f"the training process was killed ({name})")
    why = final.get("message") if final else _last_error(log_path)
    return outcome("failed", why or f"the training process exited with code {code}")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _last_error(log_path: Path) -> str | None:
    try:
        lines = [x.strip() for x in log_path.read_text(errors="replace").splitlines()
                 if x.strip()]
    except OSError:
        return None
    errors = [x for x in lines if x.startswith("error:")]
    return (errors or lines or [None])[-1]
