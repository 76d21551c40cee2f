"""The scheduler inside the bot process: nightly retraining, the nightly database backup,
/retrain, /rollback, /stats.

APScheduler's ``BackgroundScheduler`` fires the cron job in its own thread, which
only starts and watches the training child (see :mod:`jobs.runner`); the bot's event
loop never waits on it. A ``watch`` callback runs every few seconds and after every
publish or rollback; the bot uses it to swap to a new ``models/current`` and to beat
its health-check heartbeat. The backup job (``BACKUP_CRON``) writes a timestamped copy of
the database with :func:`storage.backup.rotate` and keeps the newest ``BACKUP_KEEP``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from jobs.lock import TrainingLock
from jobs.runner import Outcome, read_state, run_retrain, utc_now
from jobs.schedule import backup_trigger, missed_run, trigger
from jobs.settings import JobSettings
from jobs.status import status_lines
from recommender import artifacts
from storage import StorageError
from storage.backup import rotate

log = logging.getLogger(__name__)

WATCH_SECONDS = 5
# tell(user_or_None, text): None means every admin. The bot supplies it.
Tell = Callable[[object | None, str], None]


class RetrainService:
    """Retraining for one process, by ``settings``: the recommender's paths (models, data,
    the database the training reads) and the retraining schedule and knobs."""

    def __init__(self, settings: JobSettings, *, tell: Tell | None = None,
                 watch: Callable[[], object] = lambda: None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.settings = settings
        self.tell: Tell = tell or (lambda _to, text: log.info("%s", text))
        self.watch = watch
        self.clock = clock
        self.cron = trigger(settings.retrain)  # fails early on a bad RETRAIN_CRON or timezone
        self.backup_cron = backup_trigger(settings.backup, settings.retrain.timezone)
        self.models_dir = settings.recommender.models_dir
        self._scheduler: BackgroundScheduler | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.last: Outcome | None = None

    # ----- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the schedule; run a missed nightly training once if RETRAIN_MISSED=run."""
        scheduler = BackgroundScheduler(timezone=self.settings.retrain.timezone)
        if self.cron is not None:
            # A late thread still fires (up to 10 minutes), a backlog fires once. Runs missed
            # while the process was down are for `missed()` below: APScheduler's in-memory
            # job store has forgotten them.
            scheduler.add_job(self._nightly, self.cron, id="retrain", coalesce=True,
                              max_instances=1, misfire_grace_time=600)
        if self.backup_cron is not None:
            scheduler.add_job(self.back_up, self.backup_cron, id="backup", coalesce=True,
                              max_instances=1, misfire_grace_time=3600)
        scheduler.add_job(self._watch, IntervalTrigger(seconds=WATCH_SECONDS), id="watch",
                          coalesce=True, max_instances=1)
        scheduler.start()
        self._scheduler = scheduler
        missed = self.missed()
        if missed is not None:
            if self.settings.retrain.missed == "run":
                log.info("the retraining due at %s was missed; running it now", missed)
                self.retrain(None, trigger="missed")
            else:
                log.info("the retraining due at %s was missed; skipped (RETRAIN_MISSED=skip)",
                         missed)

    def next_run(self) -> datetime | None:
        """When the running scheduler will fire the nightly training next."""
        job = self._scheduler.get_job("retrain") if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def next_backup(self) -> datetime | None:
        """When the running scheduler will back up the database next."""
        job = self._scheduler.get_job("backup") if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    def missed(self) -> datetime | None:
        """A scheduled run that fell between the last training and now, if any."""
        if self.cron is None:
            return None
        return missed_run(self.cron, self.last_trained(), self.clock())

    def last_trained(self) -> datetime | None:
        """When the last training started, or the current model was trained."""
        times = []
        last = read_state(self.settings.recommender).get("last") or {}
        if last.get("started"):
            times.append(datetime.fromisoformat(last["started"]))
        found = artifacts.current_dir(self.models_dir)
        if found is not None:
            meta = json.loads((found / artifacts.MODEL_JSON).read_text())
            if meta.get("trained_at"):
                times.append(datetime.fromisoformat(meta["trained_at"]))
        return max(times) if times else None

    # ----- what admins and the schedule ask for ---------------------------------------

    def retrain(self, requested_by: object | None, trigger: str = "admin") -> str:
        """Start a training in the background; return the acknowledgement at once."""
        with self._guard:
            if self.running():
                holder = TrainingLock(self.models_dir).holder() or {}
                since = f" (started {holder['started']})" if holder.get("started") else ""
                return (f"A retraining is already running{since}. I'll report when it "
                        "ends; not starting another.")
            self._thread = threading.Thread(target=self._run, args=(requested_by, trigger),
                                            name="retrain", daemon=True)
            self._thread.start()
        return ("Retraining started on MovieLens plus everything rated here. I'll report "
                "progress; the current model keeps serving meanwhile.")

    def training_here(self) -> bool:
        """Whether this process started a training that has not ended yet."""
        return self._thread is not None and self._thread.is_alive()

    def running(self) -> bool:
        """Whether a training runs, here or in another process (cron, the CLI)."""
        return self.training_here() or TrainingLock(self.models_dir).is_held()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """Block until this process's training ends (scripts and tests use it)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.last

    def rollback(self) -> str:
        old, new = artifacts.rollback(self.models_dir)
        self._watch()
        return f"Rolled back: now serving {new} (was {old})."

    def status(self) -> list[str]:
        return status_lines(self.settings, self.clock(), running_here=self.training_here())

    def back_up(self) -> Path | None:
        """Back up the database now into BACKUP_DIR, keeping the newest BACKUP_KEEP; the
        file, or None (logged, and every admin told) if it failed."""
        backup = self.settings.backup
        try:
            made = rotate(self.settings.recommender.db_path, backup.folder, backup.keep,
                          self.clock())
        except StorageError as exc:
            log.error("backup failed: %s", exc)
            self.tell(None, f"⚠ The database backup failed: {exc}")
            return None
        log.info("backed up the database to %s", made)
        return made

    # ----- internals -----------------------------------------------------------------

    def _nightly(self) -> None:
        log.info("scheduled retraining: %s", self.retrain(None, trigger="schedule"))

    def _run(self, requested_by: object | None, trigger: str) -> None:
        if requested_by is not None:
            def progress(message: str) -> None:
                self.tell(requested_by, f"⏳ {message}")
        else:
            def progress(message: str) -> None:
                log.info("retrain: %s", message)
        log.info("retraining (%s)", trigger)
        try:
            outcome = run_retrain(self.settings, trigger=trigger, progress=progress,
                                  clock=self.clock)
        except Exception as exc:  # the runner reports failures; this is a bug in it
            log.exception("retraining crashed")
            outcome = Outcome("failed", f"{type(exc).__name__}: {exc}", trigger)
        self.last = outcome
        if outcome.ok:
            self._watch()  # serve it now rather than at the next tick
        log.log(logging.INFO if outcome.ok else logging.WARNING, "retrain %s: %s",
                outcome.status, outcome.summary())
        # An admin's /retrain is answered to them; a scheduled run's result to every admin.
        self.tell(requested_by, outcome.summary())

    def _watch(self) -> None:
        try:
            self.watch()
        except Exception:
            log.exception("model watch failed")
