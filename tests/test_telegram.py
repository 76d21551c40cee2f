"""Telegram end to end: the real python-telegram-bot polling a fake Bot API on 127.0.0.1.

One user journey over HTTP, and `make run` as a process. Everything else the adapter
does is tested at the library's request layer in ``tests/test_telegram_adapter.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.core import Conversation
from bot.replies import Card, Reply
from bot.telegram import build_application, html_of
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
def conversation(chat_with):
    return chat_with("1001")


def run(fake: FakeTelegram, conversation: Conversation, scenario) -> None:
    run_bot(build_application(conversation, fake.token, fake.api_url),
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
            # Fargo links to its IMDb page; no preview card for ten links.
            assert '<a href="https://www.imdb.com/title/tt0116282/">' in picks["text"]
            assert fake.calls("sendMessage")[-1]["params"]["link_preview_options"] == {
                "is_disabled": True}
            assert not fake.calls("sendChatAction")  # a quick answer needs no "typing…"
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


def test_make_run_with_a_token_starts_telegram_and_never_logs_the_token(tmp_path):
    """`python -m bot` as `make run` starts it, pointed at the fake server by environment."""
    from tests.bot_model import BotProcess, bot_env

    with FakeTelegram() as fake:
        env = bot_env(tmp_path, TELEGRAM_TOKEN=fake.token,
                      TELEGRAM_API_BASE_URL=fake.api_url)
        with BotProcess(env, tmp_path) as bot:
            fake.send_text("/like star wars")
            [call] = fake.wait_for("sendMessage", 1, timeout=60)
            assert "Liked Star Wars (1977)" in call["params"]["text"]
            assert fake.calls("setMyCommands")
    assert fake.token not in bot.out + bot.err
    assert "FAKE" not in bot.out + bot.err


def test_replies_are_escaped_and_headings_linked():
    reply = Reply("Picks <for> you:", cards=[
        Card("1. Tom & Jerry <3 (1992)", "because you liked <b>", 7,
             "https://www.imdb.com/title/tt0105630/"),
        Card("2. Unlinked (2000)")])
    assert html_of(reply) == (
        "Picks &lt;for&gt; you:\n"
        '<a href="https://www.imdb.com/title/tt0105630/">1. Tom &amp; Jerry &lt;3 (1992)</a>\n'
        "   because you liked &lt;b&gt;\n"
        "2. Unlinked (2000)")


def test_inline_mode_shares_cards_that_link_back_to_the_bot(conversation):
    """"@test_bot alien" in some chat: cards to share; a card's button opens the bot on it."""
    with FakeTelegram() as fake:
        async def answer(query: str) -> dict:
            fake.send_inline(query)
            count = len(fake.calls("answerInlineQuery")) + 1
            await asyncio.to_thread(fake.wait_for, "answerInlineQuery", count)
            [call] = fake.calls("answerInlineQuery")[count - 1:]
            assert "error" not in call, call  # the shape Telegram accepts
            return call["params"]

        async def scenario() -> None:
            fargo = (await answer("fargo"))["results"][0]
            assert fargo["input_message_content"]["message_text"] == (
                '<a href="https://www.imdb.com/title/tt0116282/">Fargo (1996)</a>\n'
                "   Movie · Crime, Thriller")
            [series] = (await answer("breaking bad tv"))["results"]
            assert (series["title"], series["description"]) == (
                "Breaking Bad (2008) [TV]", "TV series · Crime, Drama · IMDb 9.5")

            alien = await answer("alien")
            first = alien["results"][0]
            assert (first["title"], first["description"]) == (
                "Alien (1979)", "Movie · Horror, Sci-Fi")
            content = first["input_message_content"]
            assert content["parse_mode"] == "HTML"
            assert content["link_preview_options"] == {"is_disabled": True}
            [[back]] = first["reply_markup"]["inline_keyboard"]
            link = f"https://t.me/test_bot?start=t{first['id']}"
            assert back == {"text": "Open in @test_bot", "url": link}
            assert alien["is_personal"] is False and alien["cache_time"] <= 60

            # Someone in that chat taps the button: Telegram sends "/start t<id>".
            fake.send_text(f"/start t{first['id']}", user_id=2002)
            [card] = await asyncio.to_thread(fake.wait_for, "sendMessage", 1)
            assert card["params"]["chat_id"] == 2002
            assert card["params"]["text"].startswith(content["message_text"].split("\n")[0])
            assert list(buttons_of(fake.sent()[-1])) == ["❤ Like", "➕ Watchlist", "≈ Similar"]
            fake.press(fake.sent()[-1], find(fake.sent()[-1], "Like"), user_id=2002)
            await asyncio.to_thread(fake.wait_for, "sendMessage", 2)
            assert "Liked Alien (1979)" in fake.sent()[-1]["text"]

            for bad in ("t", "t99999999", "tt0078748", "inline"):  # the welcome instead
                fake.send_text(f"/start {bad}", user_id=2002)
                sent = len(fake.sent()) + 1
                await asyncio.to_thread(fake.wait_for, "sendMessage", sent)
                assert "Tap a few favourites" in fake.sent()[-1]["text"]

            mine = await answer("")  # nothing typed yet: something to share anyway
            assert mine["results"] and mine["is_personal"] is True
            nothing = await answer("zzzzqqqq xxjj")
            assert nothing["results"] == []
            assert nothing["button"] == {"text": "No title matches: open the bot",
                                         "start_parameter": "inline"}
            odd = await answer("<b>&amp; עברית " + "x" * 10_000)
            assert all("<b>" not in r["title"] for r in odd["results"])

        run(fake, conversation, scenario)
