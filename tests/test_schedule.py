"""The retraining schedule, computed from a given `now`: nothing here waits for a cron."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.settings import BotSettings
from jobs.schedule import backup_trigger, describe, missed_run, next_runs, trigger
from jobs.settings import BackupSettings, JobSettings, RetrainSettings
from recommender.errors import RecommenderError
from recommender.settings import Settings

BASE = RetrainSettings.from_env({})


def at(*args: int, zone: str = "UTC") -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone) if zone != "UTC" else UTC)


def test_default_is_nightly_at_three_utc():
    runs = next_runs(trigger(BASE), at(2026, 11, 24, 23, 50), 3)
    assert [r.isoformat() for r in runs] == ["2026-11-25T03:00:00+00:00",
                                             "2026-11-26T03:00:00+00:00",
                                             "2026-11-27T03:00:00+00:00"]


def test_timezone_and_daylight_saving_are_respected():
    berlin = replace(BASE, cron="30 2 * * *", timezone="Europe/Berlin")
    # 2027-03-28: clocks jump from 02:00 to 03:00 in Berlin, so 02:30 does not exist.
    runs = next_runs(trigger(berlin), at(2027, 3, 26, 12, 0), 3)
    assert [r.astimezone(UTC).strftime("%m-%d %H:%M") for r in runs] == [
        "03-27 01:30", "03-28 01:30", "03-29 00:30"]


def test_weekly_schedule():
    weekly = replace(BASE, cron="15 4 * * sun")
    runs = next_runs(trigger(weekly), at(2026, 11, 24, 0, 0), 2)  # a Tuesday
    assert [r.strftime("%a %d %H:%M") for r in runs] == ["Sun 29 04:15", "Sun 06 04:15"]


@pytest.mark.parametrize(("last", "now", "expected"), [
    (at(2026, 11, 23, 2, 0), at(2026, 11, 24, 9, 0), at(2026, 11, 23, 3, 0)),  # off at 3:00
    (at(2026, 11, 24, 3, 0), at(2026, 11, 24, 9, 0), None),  # ran on time
    (at(2026, 11, 24, 3, 0, 40), at(2026, 11, 25, 2, 59), None),  # not due yet
    (at(2026, 11, 20, 1, 0), at(2026, 11, 24, 9, 0), at(2026, 11, 20, 3, 0)),  # days: once
    (None, at(2026, 11, 24, 9, 0), None),  # fresh install: nothing was missed
])
def test_missed_runs(last, now, expected):
    assert missed_run(trigger(BASE), last, now) == expected


def test_off_disables_the_schedule():
    off = replace(BASE, cron="off")
    assert trigger(off) is None
    assert "off" in describe(off)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cron", "every night", "crontab"),
    ("cron", "0 25 * * *", "crontab"),
    ("timezone", "Mars/Olympus", "timezone"),
])
def test_bad_schedule_says_what_is_wrong(field, value, message):
    with pytest.raises(RecommenderError, match=message):
        trigger(replace(BASE, **{field: value}))


@pytest.mark.parametrize(("env", "message"), [
    ({"RETRAIN_MISSED": "maybe"}, "RETRAIN_MISSED must be one of run, skip"),
    ({"KEEP_MODELS": "1"}, "KEEP_MODELS must be at least 2"),
    ({"RETRAIN_TIMEOUT": "soon"}, "RETRAIN_TIMEOUT must be a whole number"),
    ({"RETRAIN_MAX_DROP": "-0.1"}, "RETRAIN_MAX_DROP must be zero or more"),
])
def test_bad_settings_are_refused(env, message):
    with pytest.raises(RecommenderError, match=message):
        RetrainSettings.from_env(env)
    with pytest.raises(RecommenderError, match=message):
        JobSettings.from_env(env)


def test_retrain_settings_read_every_knob():
    env = {"RETRAIN_CRON": " 15 4 * * sun ", "RETRAIN_TIMEZONE": "Europe/Berlin ",
           "RETRAIN_MISSED": "Skip", "RETRAIN_MAX_DROP": "0.05", "RETRAIN_TIMEOUT": "60",
           "KEEP_MODELS": "2"}
    assert RetrainSettings.from_env(env) == RetrainSettings(
        cron="15 4 * * sun", timezone="Europe/Berlin", missed="skip", max_drop=0.05,
        timeout=60, keep_models=2)
    assert RetrainSettings.from_env({}) == RetrainSettings()
    assert RetrainSettings.from_env(RetrainSettings().to_env()) == RetrainSettings()


def test_the_recommender_settings_know_nothing_of_retraining():
    settings = Settings.from_env({"RETRAIN_CRON": "off", "KEEP_MODELS": "1"})  # not read
    assert not any(name.startswith("retrain") or name == "keep_models"
                   for name in vars(settings))
    assert not any(name.startswith("RETRAIN_") or name == "KEEP_MODELS"
                   for name in settings.to_env())


def test_settings_travel_to_the_child_without_secrets():
    given = {"TELEGRAM_TOKEN": "123:secret", "ADMIN_IDS": "42", "RETRAIN_CRON": "0 4 * * *",
             "RETRAIN_MAX_DROP": "0.05", "KEEP_MODELS": "7", "DATA_DIR": "elsewhere"}
    both = BotSettings.from_env(given)
    assert both.chat.telegram_token == "123:secret" and both.chat.admin_ids == ("42",)
    jobs = both.jobs
    assert jobs == JobSettings.from_env(given)
    assert (jobs.retrain.cron, jobs.retrain.max_drop, jobs.retrain.keep_models) == (
        "0 4 * * *", 0.05, 7)
    env = jobs.to_env()
    assert "123:secret" not in str(env) and "ADMIN_IDS" not in env  # the child needs neither
    assert env["DATA_DIR"] == "elsewhere" and env["RETRAIN_CRON"] == "0 4 * * *"
    assert JobSettings.from_env(env) == jobs


# The nightly backup: its own crontab line, read in RETRAIN_TIMEZONE.

def test_backup_defaults_to_half_past_two_in_the_retraining_timezone():
    runs = next_runs(backup_trigger(BackupSettings(), "UTC"), at(2026, 11, 24, 23, 50), 2)
    assert [r.isoformat() for r in runs] == ["2026-11-25T02:30:00+00:00",
                                             "2026-11-26T02:30:00+00:00"]
    berlin = backup_trigger(BackupSettings(), "Europe/Berlin")
    assert next_runs(berlin, at(2026, 11, 24, 23, 50), 1)[0].isoformat() == (
        "2026-11-25T02:30:00+01:00")
    assert backup_trigger(BackupSettings(cron="off"), "UTC") is None


@pytest.mark.parametrize(("env", "message"), [
    ({"BACKUP_CRON": "nightly"}, "BACKUP_CRON 'nightly' is not a crontab line"),
    ({"BACKUP_CRON": "0 3 * * *", "RETRAIN_TIMEZONE": "Mars/Olympus"}, "RETRAIN_TIMEZONE"),
])
def test_a_bad_backup_schedule_says_what_is_wrong(env, message):
    settings = JobSettings.from_env(env)
    with pytest.raises(RecommenderError, match=message):
        backup_trigger(settings.backup, settings.retrain.timezone)


def test_keeping_no_backup_is_refused():
    with pytest.raises(RecommenderError, match="BACKUP_KEEP must be at least 1"):
        JobSettings.from_env({"BACKUP_KEEP": "0"})


class Told:
    """A ``tell`` that keeps what it was given (not a list: an empty one is falsy)."""

    def __init__(self) -> None:
        self.said: list[tuple[object, str]] = []

    def __call__(self, to: object, text: str) -> None:
        self.said.append((to, text))


def test_the_service_schedules_and_rotates_backups(tmp_path):
    from jobs.service import RetrainService
    from storage import Storage

    db = tmp_path / "data" / "bot.sqlite3"
    Storage(db).close()
    now = [at(2026, 11, 24, 23, 50)]
    settings = JobSettings(
        replace(Settings(), data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                db_path=db),
        RetrainSettings(cron="off"), BackupSettings(keep=2, folder=tmp_path / "backups"))
    told = Told()
    service = RetrainService(settings, tell=told, clock=lambda: now[0])
    service.start()
    try:
        assert service.next_backup().hour == 2 and service.next_backup().minute == 30
    finally:
        service.stop()
    for day in (25, 26, 27):
        now[0] = at(2026, 11, day, 2, 30)
        assert service.back_up() is not None
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [
        "bot-20261126T023000Z.sqlite3", "bot-20261127T023000Z.sqlite3"]
    assert told.said == []
    db.unlink()
    assert service.back_up() is None
    assert [(to, "backup failed" in text) for to, text in told.said] == [(None, True)]


def test_backup_off_adds_no_job(tmp_path):
    from jobs.service import RetrainService

    settings = JobSettings(replace(Settings(), models_dir=tmp_path / "models",
                                   data_dir=tmp_path / "data"),
                           RetrainSettings(cron="off"), BackupSettings(cron="off"))
    service = RetrainService(settings)
    service.start()
    try:
        assert service.next_backup() is None
    finally:
        service.stop()


def test_status_tells_the_backup_schedule_and_the_newest(tmp_path):
    from jobs.status import backup_line

    backup = BackupSettings(keep=3, folder=tmp_path / "backups")
    assert backup_line(backup, "UTC") == (
        f"Backups: cron '30 2 * * *' (UTC), 0 of up to 3 in {backup.folder}; newest none yet")
    backup.folder.mkdir()
    for name in ("bot-20261124T023000Z.sqlite3", "bot-20261125T023000Z.sqlite3", "x.txt"):
        (backup.folder / name).write_text("")
    assert backup_line(backup, "UTC").endswith("2 of up to 3 in "
                                               f"{backup.folder}; newest "
                                               "bot-20261125T023000Z.sqlite3")
    assert backup_line(replace(backup, cron="off"), "UTC") == "Backups: off (BACKUP_CRON=off)"
