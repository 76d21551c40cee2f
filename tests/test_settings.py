"""The bot's settings: the chats' part apart from the recommender's, both read at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings, ChatSettings
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


def test_bot_settings_build_both_parts_from_one_reading(monkeypatch, tmp_path: Path):
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-dotenv\nDATA_DIR=dotenv-data\n"
                                   "ADMIN_IDS=5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", "env-data")  # the environment wins over .env
    for name in ("TELEGRAM_TOKEN", "DISCORD_TOKEN", "ADMIN_IDS", "DB_PATH"):
        monkeypatch.delenv(name, raising=False)
    reads = []
    import recommender.settings as module

    real = module.read_env
    monkeypatch.setattr("bot.settings.read_env", lambda: reads.append(1) or real())
    both = BotSettings.from_env()
    assert len(reads) == 1
    assert both.recommender.data_dir == Path("env-data")
    assert both.recommender.db_path == Path("env-data/bot.sqlite3")
    assert both.chat.discord_token == "from-dotenv" and both.chat.admin_ids == ("5",)
    assert both.chat.platforms == ["discord"]
    assert not hasattr(both.recommender, "admin_ids")
    assert BotSettings.from_env({}) == BotSettings(Settings.from_env({}), ChatSettings())
