"""The fake Bot API server drives the real python-telegram-bot (no PTB mocks)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, EndPointNotFound, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fake_telegram import FakeTelegram, run_bot

KEYBOARD = {"inline_keyboard": [[{"text": "Pick", "callback_data": "pick:1"}]]}


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Pick", callback_data="pick:1")]])
    await update.effective_message.reply_text("Pick a movie", reply_markup=markup)


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer("Noted")
    await query.edit_message_text(f"You picked {query.data.split(':')[1]}")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(f"echo: {update.effective_message.text}")


def build_app(fake: FakeTelegram, errors: list[object]) -> Application:
    app = (Application.builder().token(fake.token).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(picked, pattern=r"^pick:"))

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    app.add_error_handler(on_error)
    return app


def post(fake: FakeTelegram, method: str, **params: object) -> tuple[int, dict]:
    data = "&".join(f"{k}={v}" for k, v in params.items()).encode()
    request = urllib.request.Request(f"{fake.base_url}{fake.token}/{method}", data=data)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_start_keyboard_and_button_press_round_trip() -> None:
    errors: list[object] = []
    with FakeTelegram() as fake:
        app = build_app(fake, errors)

        async def scenario() -> None:
            fake.send_text("/start")
            [sent] = await asyncio.to_thread(fake.wait_for, "sendMessage")
            assert sent["params"]["chat_id"] == 1001
            assert sent["params"]["text"] == "Pick a movie"
            assert sent["params"]["reply_markup"] == KEYBOARD

            fake.press(fake.last_message_to(1001), "pick:1")
            [answer] = await asyncio.to_thread(fake.wait_for, "answerCallbackQuery")
            [edit] = await asyncio.to_thread(fake.wait_for, "editMessageText")
            assert answer["params"]["text"] == "Noted"
            assert isinstance(answer["params"]["callback_query_id"], str)
            assert edit["params"]["text"] == "You picked 1"
            assert edit["params"]["chat_id"] == 1001

        run_bot(app, scenario)

        [message] = fake.sent()
        assert message["reply_markup"] == KEYBOARD
        assert message["from"] == fake.bot_user
        assert message["chat"] == {"id": 1001, "type": "private", "first_name": "Ann"}
        last = fake.last_message_to(1001)
        assert last["message_id"] == message["message_id"]
        assert last["text"] == "You picked 1"
        assert "reply_markup" not in last  # the edit did not re-send the keyboard
        assert "edit_date" in last
        methods = [call["method"] for call in fake.calls()]
        assert methods[:2] == ["getMe", "deleteWebhook"]
        assert fake.calls("sendMessage")[0]["content_type"] == "application/x-www-form-urlencoded"
        assert fake.errors == []
    assert errors == []


def test_plain_text_is_not_a_command_without_entity() -> None:
    errors: list[object] = []
    with FakeTelegram() as fake:
        app = build_app(fake, errors)
        app.add_handler(MessageHandler(filters.TEXT, echo), group=1)

        async def scenario() -> None:
            update = fake.send_text("/start", entities=[])
            assert "entities" not in update["message"]
            fake.send_text("/start")
            await asyncio.to_thread(fake.wait_for, "sendMessage", 3)

        run_bot(app, scenario)

        # Updates are handled in order, so the first one's reply comes first: it only echoed.
        texts = [message["text"] for message in fake.sent()]
        assert texts == ["echo: /start", "Pick a movie", "echo: /start"]
    assert errors == []


def test_command_addressed_to_the_bot_in_a_group() -> None:
    errors: list[object] = []
    with FakeTelegram() as fake:
        app = build_app(fake, errors)

        async def scenario() -> None:
            update = fake.send_text("/start@other_bot", chat_id=-500, chat_type="group")
            assert update["message"]["entities"] == [
                {"type": "bot_command", "offset": 0, "length": len("/start@other_bot")}]
            fake.send_text("/start@test_bot now", user_id=1002, first_name="Bob",
                           chat_id=-500, chat_type="group")
            [sent] = await asyncio.to_thread(fake.wait_for, "sendMessage")
            assert sent["params"]["chat_id"] == -500
            fake.press(fake.last_message_to(-500), "pick:1", user_id=1002)
            await asyncio.to_thread(fake.wait_for, "editMessageText")

        run_bot(app, scenario)

        [message] = fake.sent()  # the command for @other_bot was ignored
        assert message["chat"] == {"id": -500, "type": "group", "title": "Movie night"}
        assert fake.last_message_to(-500)["text"] == "You picked 1"
    assert errors == []


def test_unknown_method_is_404_and_server_keeps_serving() -> None:
    with FakeTelegram() as fake:
        status, body = post(fake, "sendTelepathy", chat_id=1)
        assert status == 404
        assert body == {"ok": False, "error_code": 404,
                        "description": "Not Found: method sendTelepathy"}
        assert fake.calls("sendTelepathy") == [
            {"method": "sendTelepathy", "params": {"chat_id": 1},
             "content_type": "application/x-www-form-urlencoded"}]

        async def through_ptb() -> None:
            async with Bot(fake.token, base_url=fake.base_url,
                           base_file_url=fake.base_file_url) as bot:
                with pytest.raises(EndPointNotFound):
                    await bot.do_api_request("sendTelepathy")
                me = await bot.get_me()
                assert me.username == "test_bot"

        asyncio.run(through_ptb())
        assert post(fake, "getMe")[1] == {"ok": True, "result": fake.bot_user}
        assert fake.errors == []


def test_multipart_upload_is_decoded() -> None:
    with FakeTelegram() as fake:

        async def upload() -> None:
            async with Bot(fake.token, base_url=fake.base_url,
                           base_file_url=fake.base_file_url) as bot:
                with pytest.raises(TelegramError):  # sendDocument is not emulated
                    await bot.send_document(1001, b"hello", filename="a.txt", caption="42")

        asyncio.run(upload())
        [call] = fake.calls("sendDocument")
        assert call["content_type"] == "multipart/form-data"
        params = call["params"]
        assert params["chat_id"] == 1001
        assert params["caption"] == "42"  # strings stay strings
        assert params["document"]["filename"] == "a.txt"
        assert params["document"]["data"] == b"hello"


def test_bot_api_state_and_errors() -> None:
    with FakeTelegram() as fake:

        async def scenario() -> None:
            async with Bot(fake.token, base_url=fake.base_url,
                           base_file_url=fake.base_file_url) as bot:
                await bot.set_my_commands([("start", "Start"), ("like", "Rate a movie")])
                assert [c.command for c in await bot.get_my_commands()] == ["start", "like"]
                assert await bot.delete_my_commands()
                assert await bot.get_my_commands() == ()
                assert await bot.send_chat_action(1001, "typing")

                message = await bot.send_message(
                    1001, "hi", reply_markup=InlineKeyboardMarkup(
                        [[InlineKeyboardButton("Pick", callback_data="pick:1")]]))
                assert message.reply_markup.inline_keyboard[0][0].callback_data == "pick:1"
                with pytest.raises(BadRequest, match="not modified"):
                    await bot.edit_message_text("hi", 1001, message.message_id,
                                                reply_markup=message.reply_markup)
                edited = await bot.edit_message_reply_markup(1001, message.message_id)
                assert edited.reply_markup is None
                with pytest.raises(BadRequest, match="not found"):
                    await bot.edit_message_text("x", 1001, message.message_id + 100)
                second = await bot.send_message(1001, "second")
                assert second.message_id > message.message_id

        asyncio.run(scenario())
        assert fake.last_message_to(1001)["text"] == "second"
        [commands] = [c["params"]["commands"] for c in fake.calls("setMyCommands")]
        assert commands == [{"command": "start", "description": "Start"},
                            {"command": "like", "description": "Rate a movie"}]
        with pytest.raises(AssertionError, match="sent nothing to chat 7"):
            fake.last_message_to(7)


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
        assert post(fake, "getUpdates", offset=second["update_id"] + 1)[1]["result"] == []

        fake.max_poll_hold = 5.0  # make an early wake-up measurable
        result: list[dict] = []
        poller = threading.Thread(target=lambda: result.append(
            post(fake, "getUpdates", offset=second["update_id"] + 1, timeout=30)[1]))
        started = time.monotonic()
        poller.start()
        fake.wait_for("getUpdates", count=4)
        third = fake.send_text("/start")
        poller.join(timeout=10)
        assert time.monotonic() - started < 4
        assert result == [{"ok": True, "result": [third]}]


def test_wait_for_timeout_lists_recorded_methods() -> None:
    with FakeTelegram() as fake:
        post(fake, "getMe")
        with pytest.raises(AssertionError, match=r"sendMessage.*'getMe': 1"):
            fake.wait_for("sendMessage", timeout=0.05)
