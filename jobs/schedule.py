"""When retraining and backups run: crontab lines in a timezone, and what to do about
missed retraining runs.

Everything takes ``now`` as an argument, so tests compute fire times without waiting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from jobs.settings import BackupSettings, RetrainSettings
from recommender.errors import RecommenderError

OFF = "off"


def trigger(retrain: RetrainSettings) -> CronTrigger | None:
    """The nightly trigger, or None when ``RETRAIN_CRON=off``."""
    return cron_trigger(retrain.cron, retrain.timezone, "RETRAIN_CRON")


def backup_trigger(backup: BackupSettings, timezone: str) -> CronTrigger | None:
    """The nightly backup's trigger in ``timezone`` (RETRAIN_TIMEZONE), or None when
    ``BACKUP_CRON=off``."""
    return cron_trigger(backup.cron, timezone, "BACKUP_CRON")


def cron_trigger(line: str, timezone: str, variable: str) -> CronTrigger | None:
    """A crontab ``line`` read in ``timezone``, or None for "off"; errors name ``variable``."""
    if line.lower() in (OFF, "none", "never", ""):
        return None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecommenderError(f"RETRAIN_TIMEZONE {timezone!r} is not a "
                               "timezone name such as UTC or Europe/Berlin.") from None
    try:
        return CronTrigger.from_crontab(line, timezone=zone)
    except ValueError as exc:
        raise RecommenderError(f"{variable} {line!r} is not a crontab "
                               f"line such as '0 3 * * *' ({exc}).") from None


def next_runs(cron: CronTrigger, now: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times at or after ``now``."""
    runs: list[datetime] = []
    previous = None
    for _ in range(count):
        nxt = cron.get_next_fire_time(previous, now if previous is None else previous)
        if nxt is None:
            break
        if previous is not None and nxt <= previous:  # the trigger returns `previous` itself
            nxt = cron.get_next_fire_time(previous, previous + timedelta(seconds=1))
        runs.append(nxt)
        previous = nxt
    return runs


def missed_run(cron: CronTrigger, last_run: datetime | None, now: datetime) -> datetime | None:
    """The first fire time after ``last_run`` that has already passed, if any.

    ``last_run`` is the newest of the last training and the current model's time; with
    none of them (a fresh install) nothing counts as missed.
    """
    if last_run is None:
        return None
    due = cron.get_next_fire_time(None, last_run + timedelta(seconds=1))
    return due if due is not None and due <= now else None


def describe(retrain: RetrainSettings) -> str:
    """The schedule in words, for /stats and ``python -m jobs status``."""
    if trigger(retrain) is None:
        return "nightly retraining is off (RETRAIN_CRON=off)"
    return f"cron '{retrain.cron}' ({retrain.timezone})"
