"""Telegram end to end: the real python-telegram-bot against a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from bot.core import Conversation
from bot.telegram import build_application, chunks
from storage import Storage
from tests.bot_model import small_model
from tests.fake_telegram import FakeTelegram, run_bot


def buttons_of(message: dict) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", [])
            for b in row}


def find(message: dict, label_part: str) -> str:
    for label, data in buttons_of(message).items():
        if label_part in label:
            return data
    raise AssertionError(f"no button {label_part!r} in {list(buttons_of(message))}")


@pytest.fixture
def conversation(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3")
    yield Conversation(small_model(), storage, admin_ids=["1001"])
    storage.close()


def run(fake: FakeTelegram, conversation: Conversation, scenario) -> None:
    run_bot(build_application(conversation, fake.token, fake.base_url.removesuffix("/bot")),
            scenario)


def test_a_user_journey(conversation):
    with FakeTelegram() as fake:
        sent = 0

        async def reply_to(text: str | None = None, press: tuple[dict, str] | None = None,
                           expect: int = 1) -> dict:
            nonlocal sent
            if text is not None:
                fake.send_text(text)
            else:
                fake.press(*press)
            sent += expect
            await asyncio.to_thread(fake.wait_for, "sendMessage", sent)
            return fake.sent()[-1]

        async def scenario() -> None:
            commands = fake.calls("setMyCommands")[0]["params"]["commands"]
            assert {"command": "recommend", "description": "picks for you"} in commands

            start = await reply_to("/start")
            assert "Tap a few favourites" in start["text"]
            liked = await reply_to(press=(start, find(start, "Star Wars")))
            assert "Liked Star Wars (1977)" in liked["text"]
            assert fake.calls("answerCallbackQuery")[-1]["params"].get("text") == "Liked"

            choose = await reply_to("/like godfather")
            assert "Several titles match" in choose["text"]
            assert "The Godfather: Part II (1974)" in buttons_of(choose)
            picked = await reply_to(press=(choose, find(choose, "The Godfather (1972)")))
            assert "Liked The Godfather (1972)" in picked["text"]

            picks = await reply_to("/recommend")
            assert picks["text"].startswith("Picks for you:")
            assert "because you liked" in picks["text"]
            assert fake.calls("sendChatAction")  # the typing indicator
            thumbs = await reply_to(press=(picks, find(picks, "1 👍")))
            assert thumbs["text"].startswith("❤ Liked")

            await reply_to("/watch alien")
            watchlist = await reply_to("/watchlist")
            assert "1. Alien (1979)" in watchlist["text"]

            ask = await reply_to("/forget")
            fake.press(ask, find(ask, "Yes"))
            await asyncio.to_thread(fake.wait_for, "editMessageText", 1)
            assert "deleted" in fake.last_message_to(1001)["text"]
            empty = await reply_to("/likes")
            assert "You haven't told me anything yet" in empty["text"]

        run(fake, conversation, scenario)
        assert all(c["params"].get("parse_mode") == "HTML" for c in fake.calls("sendMessage"))


def test_html_is_escaped_and_groups_only_hear_commands(conversation):
    with FakeTelegram() as fake:
        async def scenario() -> None:
            fake.send_text("/like <b>Zzzqqq</b> & co")
            [call] = await asyncio.to_thread(fake.wait_for, "sendMessage", 1)
            assert "&lt;b&gt;Zzzqqq&lt;/b&gt; &amp; co" in call["params"]["text"]

            fake.send_text("star wars", chat_id=-500, chat_type="group", user_id=2002)
            fake.send_text("/like@test_bot star wars", chat_id=-500, chat_type="group",
                           user_id=2002)
            calls = await asyncio.to_thread(fake.wait_for, "sendMessage", 2)
            assert calls[-1]["params"]["chat_id"] == -500
            assert "Liked Star Wars" in calls[-1]["params"]["text"]
            fake.send_text("/recommend 1", chat_id=-500, chat_type="group", user_id=3003)
            calls = await asyncio.to_thread(fake.wait_for, "sendMessage", 3)
            assert "haven't told me what you like" in calls[-1]["params"]["text"]

        run(fake, conversation, scenario)
        assert len(fake.calls("sendMessage")) == 3  # the plain group message got no answer


def test_long_replies_are_split_under_the_limit():
    text = "\n".join(f"{i}. <Title & Co> " * 20 for i in range(200))
    parts = chunks(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "".join(p.replace("\n", "") for p in parts).count("&lt;Title &amp; Co&gt;") == 4000
    assert chunks("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_make_run_with_a_token_starts_telegram_and_never_logs_the_token(tmp_path):
    """`python -m bot` as `make run` starts it, pointed at the fake server by environment."""
    from tests.bot_model import BotProcess, bot_env

    with FakeTelegram() as fake:
        env = bot_env(tmp_path, TELEGRAM_TOKEN=fake.token,
                      TELEGRAM_API_BASE_URL=fake.base_url.removesuffix("/bot"))
        with BotProcess(env, tmp_path) as bot:
            fake.send_text("/like star wars")
            [call] = fake.wait_for("sendMessage", 1, timeout=60)
            assert "Liked Star Wars (1977)" in call["params"]["text"]
            assert fake.calls("setMyCommands")
    assert fake.token not in bot.out + bot.err
    assert "FAKE" not in bot.out + bot.err


def test_admin_commands_and_unprompted_messages(conversation, settings):
    """/retrain for admins only, and the core's pushes (retraining results) reach Telegram."""
    from dataclasses import replace

    from jobs.lock import TrainingLock
    from jobs.service import RetrainService

    settings = replace(settings, retrain_cron="off", admin_ids=("1001",))
    conversation.jobs = RetrainService(settings, tell=conversation.tell)
    with FakeTelegram() as fake, TrainingLock(settings.models_dir).acquire("cron"):
        async def scenario():
            fake.send_text("/retrain", user_id=2002)
            [refused] = await asyncio.to_thread(fake.wait_for, "sendMessage", 1)
            assert refused["params"]["text"] == "Sorry, /retrain is only for the bot's admins."
            fake.send_text("/retrain", user_id=1001)
            calls = await asyncio.to_thread(fake.wait_for, "sendMessage", 2)
            assert "already running" in calls[-1]["params"]["text"]
            # A result arrives from the training thread, not from a request.
            await asyncio.to_thread(conversation.tell, None, "✅ New model <v2> is live.")
            calls = await asyncio.to_thread(fake.wait_for, "sendMessage", 3)
            assert calls[-1]["params"]["chat_id"] == 1001
            assert calls[-1]["params"]["text"] == "✅ New model &lt;v2&gt; is live."

        run(fake, conversation, scenario)


def test_movie_night_in_a_telegram_group(conversation):
    with FakeTelegram() as fake:
        async def scenario():
            group = {"chat_id": -900, "chat_type": "group"}
            steps = [(2002, "/like star wars"), (3003, "/like@test_bot godfather part ii"),
                     (2002, "/movienight join"), (3003, "/movienight join"),
                     (2002, "/movienight")]
            for n, (user, text) in enumerate(steps, 1):  # one at a time, as people type
                fake.send_text(text, user_id=user, **group)
                calls = await asyncio.to_thread(fake.wait_for, "sendMessage", n)
            night = calls[-1]["params"]
            assert night["chat_id"] == -900
            assert night["text"].startswith("🍿 Movie night for ")
            assert "The Empire Strikes Back" in night["text"]
            assert "The Godfather (1972)" in night["text"]

        run(fake, conversation, scenario)
