"""The fake Bot API server drives the real python-telegram-bot (no PTB mocks), as far as the
end-to-end journey needs it: polling, commands, an inline keyboard, a press and an edit."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import EndPointNotFound
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fake_telegram import FakeTelegram, run_bot

KEYBOARD = {"inline_keyboard": [[{"text": "Pick", "callback_data": "pick:1"}]]}


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_chat.send_action("typing")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Pick", callback_data="pick:1")]])
    await update.effective_message.reply_text("Pick a movie", reply_markup=markup)


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer("Noted")
    await query.edit_message_text(f"You picked {query.data.split(':')[1]}")


def post(fake: FakeTelegram, method: str, **params: object) -> tuple[int, dict]:
    data = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    request = urllib.request.Request(f"{fake.base_url}{fake.token}/{method}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def test_start_keyboard_and_button_press_round_trip() -> None:
    errors: list[object] = []
    with FakeTelegram() as fake:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(picked))

        async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
            errors.append(context.error)

        app.add_error_handler(on_error)

        async def scenario() -> None:
            await app.bot.set_my_commands([("start", "Start")])
            fake.send_text("/start")
            [sent] = await asyncio.to_thread(fake.wait_for, "sendMessage")
            assert sent["params"]["chat_id"] == 1001
            assert sent["params"]["text"] == "Pick a movie"
            assert sent["params"]["reply_markup"] == KEYBOARD

            fake.press(fake.last_message_to(1001), "pick:1")
            [edit] = await asyncio.to_thread(fake.wait_for, "editMessageText")
            [answer] = fake.calls("answerCallbackQuery")
            assert answer["params"]["text"] == "Noted"
            assert edit["params"]["text"] == "You picked 1"
            assert edit["params"]["chat_id"] == 1001

        run_bot(app, scenario)

        [message] = fake.sent()
        assert message["reply_markup"] == KEYBOARD and message["from"] == fake.bot_user
        last = fake.last_message_to(1001)
        assert last["message_id"] == message["message_id"]
        assert last["text"] == "You picked 1"
        assert "reply_markup" not in last  # the edit did not re-send the keyboard
        methods = [call["method"] for call in fake.calls() if call["method"] != "getUpdates"]
        assert methods == ["getMe", "deleteWebhook", "setMyCommands", "sendChatAction",
                           "sendMessage", "answerCallbackQuery", "editMessageText"]
        assert fake.calls("setMyCommands")[0]["params"]["commands"] == [
            {"command": "start", "description": "Start"}]
    assert errors == []


def test_unknown_method_is_404_and_strings_stay_strings() -> None:
    with FakeTelegram() as fake:
        status, body = post(fake, "sendTelepathy", chat_id=1)
        assert status == 404
        assert body == {"ok": False, "error_code": 404,
                        "description": "Not Found: method sendTelepathy"}

        async def through_ptb() -> None:
            async with Bot(fake.token, base_url=fake.base_url) as bot:
                with pytest.raises(EndPointNotFound):
                    await bot.do_api_request("sendTelepathy")
                await bot.send_message(1001, "42")

        asyncio.run(through_ptb())
        [sent] = fake.calls("sendMessage")
        assert sent["params"] == {"chat_id": 1001, "text": "42"}  # the text stays a string


def test_get_updates_offsets_and_long_poll_wakes_early() -> None:
    with FakeTelegram() as fake:
        first = fake.send_text("hello")
        second = fake.send_text("again")
        status, body = post(fake, "getUpdates", offset=0, timeout=0)
        assert status == 200
        assert [u["update_id"] for u in body["result"]] == [first["update_id"],
                                                           second["update_id"]]
        body = post(fake, "getUpdates", offset=second["update_id"])[1]
        assert body["result"] == [second]
        assert "entities" not in second["message"]

        fake.max_poll_hold = 5.0  # make an early wake-up measurable
        result: list[dict] = []
        poller = threading.Thread(target=lambda: result.append(
            post(fake, "getUpdates", offset=second["update_id"] + 1, timeout=30)[1]))
        started = time.monotonic()
        poller.start()
        fake.wait_for("getUpdates", count=3)
        third = fake.send_text("/start now")
        poller.join(timeout=10)
        assert time.monotonic() - started < 4
        assert result == [{"ok": True, "result": [third]}]
        assert third["message"]["entities"] == [{"type": "bot_command", "offset": 0,
                                                 "length": 6}]


def test_wait_for_timeout_lists_recorded_methods() -> None:
    with FakeTelegram() as fake:
        post(fake, "getMe")
        with pytest.raises(AssertionError, match=r"sendMessage.*'getMe': 1"):
            fake.wait_for("sendMessage", timeout=0.05)


def test_inline_answers_are_checked_as_telegram_checks_them() -> None:
    from telegram import InlineQueryResultArticle, InputTextMessageContent
    from telegram.error import BadRequest

    def article(result_id: str, url: str = "https://t.me/test_bot?start=t1"):
        button = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url=url)]])
        return InlineQueryResultArticle(result_id, "Alien (1979)",
                                        InputTextMessageContent("Alien (1979)"),
                                        reply_markup=button)

    refused = {
        "two results with one id": [article("1"), article("1")],
        "51 results": [article(str(i)) for i in range(51)],
        "a payload Telegram refuses": [article("1", "https://t.me/test_bot?start=t 1")],
        "a payload too long": [article("1", "https://t.me/test_bot?start=" + "t" * 65)],
    }
    with FakeTelegram() as fake:
        query_id = fake.send_inline("alien")["inline_query"]["id"]

        async def through_ptb() -> None:
            async with Bot(fake.token, base_url=fake.base_url) as bot:
                for why, results in refused.items():
                    with pytest.raises(BadRequest):
                        await bot.answer_inline_query(query_id, results)
                        pytest.fail(f"accepted {why}")
                assert await bot.answer_inline_query(query_id, [article(str(i))
                                                                for i in range(50)])
                with pytest.raises(BadRequest, match=r"(?i)query is too old"):  # answered once
                    await bot.answer_inline_query(query_id, [])

        asyncio.run(through_ptb())
        [accepted] = fake.inline_answers()
        assert accepted["inline_query_id"] == query_id and len(accepted["results"]) == 50
        assert len(fake.calls("answerInlineQuery")) == len(refused) + 2
