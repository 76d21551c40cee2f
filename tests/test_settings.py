"""The bot's settings: the chats' part apart from the recommender's and retraining's, all
read at once; and the jobs' settings, read at once too."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings, ChatSettings
from jobs.settings import BackupSettings, JobSettings, RetrainSettings
from recommender.settings import Settings


def test_chat_settings_read_tokens_url_and_admins():
    chat = ChatSettings.from_env({"TELEGRAM_TOKEN": " 123:abc \n", "DISCORD_TOKEN": "  ",
                                  "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot",
                                  "ADMIN_IDS": "42, 7 ,,9"})
    assert chat.telegram_token == "123:abc" and chat.discord_token is None
    assert chat.telegram_api_base_url == "http://127.0.0.1:9/bot"
    assert chat.admin_ids == ("42", "7", "9")
    assert ChatSettings.from_env({}) == ChatSettings()


def test_tokens_stay_out_of_repr():
    both = BotSettings.from_env({"TELEGRAM_TOKEN": "123:secret", "DISCORD_TOKEN": "d.secret"})
    assert "secret" not in repr(both) and "secret" not in str(both)


@pytest.mark.parametrize(("env", "platforms"), [
    ({}, ["console"]),
    ({"TELEGRAM_TOKEN": "1:a"}, ["telegram"]),
    ({"DISCORD_TOKEN": "b"}, ["discord"]),
    ({"TELEGRAM_TOKEN": "1:a", "DISCORD_TOKEN": "b"}, ["telegram", "discord"]),
    ({"TELEGRAM_API_BASE_URL": "http://x", "ADMIN_IDS": "1"}, ["console"]),
])
def test_platforms_follow_the_tokens(env, platforms):
    assert ChatSettings.from_env(env).platforms == platforms


def count_reads(monkeypatch, module: str) -> list[int]:
    """A list that grows by one each time ``module`` reads the environment and .env."""
    import recommender.settings

    reads: list[int] = []
    real = recommender.settings.read_env
    monkeypatch.setattr(f"{module}.read_env", lambda: reads.append(1) or real())
    return reads


def test_bot_settings_build_both_parts_from_one_reading(monkeypatch, tmp_path: Path):
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-dotenv\nDATA_DIR=dotenv-data\n"
                                   "ADMIN_IDS=5\nRETRAIN_CRON=off\nKEEP_MODELS=3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", "env-data")  # the environment wins over .env
    monkeypatch.setenv("KEEP_MODELS", "4")
    for name in ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "ADMIN_IDS", "DB_PATH", "RETRAIN_CRON"):
        monkeypatch.delenv(name, raising=False)
    reads = count_reads(monkeypatch, "bot.settings")
    both = BotSettings.from_env()
    assert len(reads) == 1
    assert both.recommender.data_dir == Path("env-data")
    assert both.recommender.db_path == Path("env-data/bot.sqlite3")
    assert both.chat.discord_token == "from-dotenv" and both.chat.admin_ids == ("5",)
    assert both.chat.platforms == ["discord"]
    assert not hasattr(both.recommender, "admin_ids")
    assert (both.retrain.cron, both.retrain.keep_models) == ("off", 4)
    assert both.backup == BackupSettings(folder=Path("env-data/backups"))  # in DATA_DIR
    assert both.jobs == JobSettings(both.recommender, both.retrain, both.backup)
    assert BotSettings.from_env({}) == BotSettings(Settings.from_env({}), ChatSettings(),
                                                   RetrainSettings(), BackupSettings())


def test_job_settings_build_both_parts_from_one_reading(monkeypatch, tmp_path: Path):
    (tmp_path / ".env").write_text("MODELS_DIR=dotenv-models\nRETRAIN_TIMEOUT=60\n"
                                   "TELEGRAM_TOKEN=123:secret\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETRAIN_TIMEOUT", "90")  # the environment wins over .env
    for name in ("MODELS_DIR", "TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    reads = count_reads(monkeypatch, "jobs.settings")
    jobs = JobSettings.from_env()
    assert len(reads) == 1
    assert jobs.recommender.models_dir == Path("dotenv-models")
    assert jobs.retrain.timeout == 90
    assert "secret" not in str(jobs) and "secret" not in str(jobs.to_env())
    assert JobSettings.from_env({}) == JobSettings(Settings(), RetrainSettings(),
                                                   BackupSettings())


def test_backup_settings_read_every_knob():
    env = {"BACKUP_CRON": " 0 4 * * * ", "BACKUP_KEEP": "3", "BACKUP_DIR": "/srv/backups",
           "DATA_DIR": "elsewhere"}
    assert BackupSettings.from_env(env) == BackupSettings("0 4 * * *", 3, Path("/srv/backups"))
    assert BackupSettings.from_env({}) == BackupSettings("30 2 * * *", 7,
                                                         Path("data/backups"))
    assert JobSettings.from_env({"DATA_DIR": "d"}).backup.folder == Path("d/backups")
    assert BotSettings.from_env(env).backup == JobSettings.from_env(env).backup
    assert JobSettings.from_env(JobSettings.from_env(env).to_env()) == JobSettings.from_env(env)
