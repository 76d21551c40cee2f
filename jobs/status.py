"""What retraining is doing: schedule, next runs, last and running training, models kept;
and the nightly backup: schedule, backups kept.

Shared by ``python -m jobs status`` and the admins' /stats.
"""

from __future__ import annotations

from datetime import datetime

from jobs.lock import TrainingLock
from jobs.runner import read_state, utc_now
from jobs.schedule import backup_trigger, describe, next_runs, trigger
from jobs.settings import BackupSettings, JobSettings
from recommender.artifacts import current_dir, versions


def status_lines(job_settings: JobSettings, now: datetime | None = None,
                 running_here: bool = False) -> list[str]:
    """Schedule, next runs, last and running training, models kept (also for /stats)."""
    settings, retrain = job_settings.recommender, job_settings.retrain
    now = now or utc_now()
    lines = [f"Retraining: {describe(retrain)}"]
    cron = trigger(retrain)
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
    lines.append(f"Models kept: {len(kept)} of up to {retrain.keep_models}; current "
                 f"{found.name if found else 'none'}")
    lines.append(backup_line(job_settings.backup, retrain.timezone))
    return lines


def backup_line(backup: BackupSettings, timezone: str) -> str:
    """The nightly backup in one line: its schedule, the newest file, how many are kept."""
    if backup_trigger(backup, timezone) is None:
        return "Backups: off (BACKUP_CRON=off)"
    found = sorted(backup.folder.glob("bot-*Z.sqlite3")) if backup.folder.is_dir() else []
    newest = found[-1].name if found else "none yet"
    return (f"Backups: cron '{backup.cron}' ({timezone}), {len(found)} of up to "
            f"{backup.keep} in {backup.folder}; newest {newest}")
