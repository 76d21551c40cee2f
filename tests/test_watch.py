"""Swapping models under a running bot, refusing broken ones, and the admin commands
that drive retraining (no Spark here: the lock and the models folder are real)."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from bot.app import healthy, load_model, start_jobs
from bot.core import Conversation, UserRef
from bot.watch import ModelWatcher
from jobs.lock import TrainingLock
from jobs.service import RetrainService
from jobs.settings import JobSettings, RetrainSettings
from recommender.artifacts import ITEM_IDS
from recommender.serve import Recommender
from storage import Storage
from tests.bot_model import write_model

ADMIN = UserRef("telegram", "42", "Root")
ANN = UserRef("telegram", "7", "Ann")


def jobs(settings, **retrain: str) -> JobSettings:
    """These recommender settings with retraining knobs (nightly retraining off unless
    ``cron`` is given)."""
    return JobSettings(settings, RetrainSettings(**{"cron": "off", **retrain}))


@pytest.fixture
def setup(settings):
    first = write_model(settings.models_dir).name
    storage = Storage(settings.db_path)
    bot = Conversation(load_model(settings.models_dir), storage, admin_ids=("42",))
    told: list[tuple[str, str]] = []
    bot.add_outbox("telegram", lambda uid, text: told.append((uid, text)))
    yield settings, bot, first, told
    storage.close()


def test_a_new_model_is_served_from_the_next_request(setup):
    settings, bot, first, _told = setup
    watcher = ModelWatcher(bot, settings.models_dir)
    assert watcher.check() is None  # nothing changed: nothing done
    second = write_model(settings.models_dir).name
    assert bot.recommender.version == first
    assert watcher.check() == second
    assert bot.recommender.version == second
    assert "Star Wars" in bot.handle_text(ANN, "/similar empire")[0].text


def test_a_request_in_flight_keeps_its_model(setup):
    settings, bot, first, _told = setup
    second = write_model(settings.models_dir).name
    seen = []
    original = bot._recommend

    def recommend_during_a_swap(uid, args):
        seen.append(bot.recommender.version)
        bot.swap(Recommender.load(settings.models_dir / second))  # the watcher, meanwhile
        seen.append(bot.recommender.version)
        return original(uid, args)

    bot._recommend = recommend_during_a_swap
    bot.handle_text(ANN, "/recommend")
    assert seen == [first, first]
    assert bot.recommender.version == second


def test_a_corrupt_model_is_refused_and_the_admins_told_once(setup):
    settings, bot, first, told = setup
    bad = write_model(settings.models_dir)
    np.save(bad / ITEM_IDS, np.zeros(3, dtype=np.int64))  # wrong length, repeated ids
    watcher = ModelWatcher(bot, settings.models_dir)
    assert watcher.check() is None
    assert watcher.check() is None
    assert bot.recommender.version == first
    assert len(told) == 1 and told[0][0] == "42"
    assert f"points to {bad.name}, which is unusable, so I kept serving {first}" in told[0][1]
    assert "More like The Empire Strikes Back" in bot.handle_text(ANN, "/similar empire")[0].text
    # The bot restarts meanwhile: it starts on the newest sound model instead.
    assert load_model(settings.models_dir).version == first


def test_admin_rollback_and_stats(setup):
    settings, bot, first, _told = setup
    second = write_model(settings.models_dir).name
    service = start_jobs(bot, jobs(settings))
    try:
        assert bot.recommender.version == second  # start_jobs checks at once
        reply = bot.handle_text(ADMIN, "/rollback")[0].text
        assert reply == f"Rolled back: now serving {first} (was {second})."
        assert bot.recommender.version == first
        assert "Could not roll back: There is no sound model older" in \
            bot.handle_text(ADMIN, "/rollback")[0].text
        stats = bot.handle_text(ADMIN, "/stats")[0].text
        assert "Retraining: nightly retraining is off (RETRAIN_CRON=off)" in stats
        assert "Last run: none yet" in stats and f"current {first}" in stats
        assert isinstance(service, RetrainService) and healthy(settings)
    finally:
        service.stop()


def test_retrain_while_one_runs_says_so(setup, caplog):
    settings, bot, _first, _told = setup
    bot.jobs = RetrainService(jobs(settings), tell=bot.tell)
    with TrainingLock(settings.models_dir).acquire("cron"):  # e.g. `python -m jobs retrain`
        reply = bot.handle_text(ADMIN, "/retrain")[0].text
    assert reply.startswith("A retraining is already running (started ")
    assert "not starting another" in reply
    with caplog.at_level(logging.WARNING):
        assert "only for the bot's admins" in bot.handle_text(ANN, "/retrain")[0].text
    assert "refused /retrain for telegram user 7" in caplog.text


def test_missed_run_policy(setup):
    settings, bot, _first, told = setup
    nightly = jobs(settings, cron="0 3 * * *", missed="skip")
    write_model(settings.models_dir, trained_at="2026-11-20T02:00:00+00:00")
    from datetime import UTC, datetime

    clock = lambda: datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # noqa: E731
    skip = RetrainService(nightly, tell=bot.tell, clock=clock)
    assert skip.missed() == datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    skip.start()
    skip.stop()
    assert skip.last is None  # skipped
    run = RetrainService(jobs(settings, cron="0 3 * * *", missed="run"), tell=bot.tell,
                         clock=clock)
    run.start()  # runs once now, for real: this folder has no data, so it fails fast
    outcome = run.wait(timeout=60)
    run.stop()
    assert outcome.status == "failed" and outcome.trigger == "missed"
    assert told[-1][0] == "42"  # a scheduled run's result goes to every admin
    assert "No processed data" in told[-1][1] and "python -m recommender data prepare" in \
        told[-1][1]
    assert not TrainingLock(settings.models_dir).is_held()


def test_health_check_needs_a_fresh_heartbeat(settings):
    assert not healthy(settings)
    heartbeat = settings.data_dir / "bot.heartbeat"
    heartbeat.parent.mkdir(parents=True)
    heartbeat.write_text("1\n")
    mtime = heartbeat.stat().st_mtime
    assert healthy(settings, now=mtime + 30)
    assert not healthy(settings, now=mtime + 300)


def test_tell_reaches_every_admin_on_every_platform(setup):
    _settings, bot, _first, told = setup
    console: list[tuple[str, str]] = []
    bot.add_outbox("console", lambda uid, text: console.append((uid, text)))
    bot.admin_ids.add("local")
    done = threading.Event()
    bot.add_outbox("broken", lambda uid, text: done.set() or (_ for _ in ()).throw(OSError()))
    bot.tell(None, "hello admins")
    assert ("42", "hello admins") in told and ("local", "hello admins") in console
    assert done.is_set()  # a failing platform does not stop the others
    bot.tell(ANN, "just you")
    assert told[-1] == ("7", "just you")


def test_the_nightly_job_is_scheduled_where_the_schedule_says(setup):
    from datetime import UTC, datetime

    from jobs.schedule import next_runs, trigger

    settings, bot, _first, _told = setup
    nightly = jobs(settings, cron="30 4 * * *", timezone="Asia/Tokyo")
    service = RetrainService(nightly, tell=bot.tell)
    service.start()
    try:
        expected = next_runs(trigger(nightly.retrain), datetime.now(UTC), 1)[0]
        assert service.next_run() == expected
        assert (expected.hour, expected.minute, str(expected.tzinfo)) == (4, 30, "Asia/Tokyo")
        assert f"Next runs: {expected.strftime('%Y-%m-%d %H:%M')} JST" in \
            "\n".join(service.status())
    finally:
        service.stop()
    assert RetrainService(jobs(settings), tell=bot.tell).next_run() is None  # not started
