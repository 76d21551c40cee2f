"""The Telegram adapter through the real python-telegram-bot, hooked in at its request layer.

:class:`BotApi` is a ``telegram.request.BaseRequest``: every Bot API call the library makes
is recorded (method and decoded parameters) and answered with the JSON Telegram would send,
so no HTTP server and no polling are involved. Updates go in with
``Application.process_update``, which returns once the handlers are done.

One end-to-end journey over HTTP (the fake Bot API server) stays in ``tests/test_telegram.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.request import BaseRequest, RequestData

from bot import telegram as telegram_adapter
from bot.backoff import Backoff
from bot.core import Conversation
from bot.telegram import build_application, chunks

TOKEN = "123:FAKE"
BOT_USER = {"id": 123, "is_bot": True, "first_name": "TestBot", "username": "test_bot"}
ANN, BOB, CY = 1001, 2002, 3003
NAMES = {ANN: "Ann", BOB: "Bob", CY: "Cy"}
GROUP = -500
SENDS = frozenset({"sendMessage", "editMessageText", "answerCallbackQuery",
                   "answerInlineQuery"})
ADMIN_ONLY = {"stats", "retrain", "rollback"}  # not in the menu of every user
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message")


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.parameters = code, parameters


class BotApi(BaseRequest):
    """The Bot API as python-telegram-bot's request layer sees it: records, then answers.

    Messages are kept as Telegram keeps them: an edit that changes nothing fails with
    400 "message is not modified". Methods in ``failing`` fail with 400, and those in
    ``flooded`` with 429 "retry after 1" every time.
    """

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.failing: set[str] = set()
        self.flooded: set[str] = set()
        self.seen: dict[str, threading.Event] = {}  # set when that method is called
        self.flaky = False
        self._sends = itertools.count()
        self.messages: dict[tuple[int, int], dict] = {}
        self._ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **timeouts: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = json.loads(json.dumps(request_data.parameters)) if request_data else {}
        call: dict[str, Any] = {"method": name, "params": params, "result": None}
        self.calls.append(call)
        if name in self.seen:
            self.seen[name].set()
        try:
            call["result"] = self._answer(name, params)
        except ApiError as exc:
            call["error"] = str(exc)
            body = {"ok": False, "error_code": exc.code, "description": str(exc)}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.code, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": call["result"]}).encode()

    def _answer(self, name: str, params: dict) -> Any:
        if name in self.failing:
            raise ApiError(400, "Bad Request: something went wrong")
        if name in self.flooded:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._flake(name)
        if name == "getMe":
            return BOT_USER
        if name == "sendMessage":
            return self._send(params)
        if name == "editMessageText":
            return self._edit(params)
        if name in ("answerCallbackQuery", "sendChatAction", "setMyCommands",
                    "deleteWebhook", "answerInlineQuery"):
            return True
        raise ApiError(404, f"Not Found: method {name}")

    def _flake(self, name: str) -> None:
        """With ``flaky`` set: a third of the sends get 429 (retry after 1 s, as Telegram's
        flood control answers), and every fourth of the others a 502."""
        if not self.flaky or name not in SENDS:
            return
        n = next(self._sends)
        if n % 3 == 0:
            raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        if n % 4 == 1:
            raise ApiError(502, "Bad Gateway")

    def _send(self, params: dict) -> dict:
        chat_id = params["chat_id"]
        chat = ({"id": chat_id, "type": "private", "first_name": NAMES.get(chat_id, "Ann")}
                if chat_id > 0 else {"id": chat_id, "type": "group", "title": "Movie night"})
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
                   "from": BOT_USER, "text": params["text"]}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages[chat_id, message["message_id"]] = message
        return message

    def _edit(self, params: dict) -> dict:
        key = (params["chat_id"], params["message_id"])
        if key not in self.messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        edited = {**self.messages[key], "text": params["text"]}
        edited.pop("reply_markup", None)  # Telegram drops the keyboard unless it is sent again
        if params.get("reply_markup"):
            edited["reply_markup"] = params["reply_markup"]
        if edited == self.messages[key]:
            raise ApiError(400, NOT_MODIFIED)
        self.messages[key] = {**edited, "edit_date": int(time.time())}
        return self.messages[key]

    def called(self, method: str) -> list[dict]:
        return [c["params"] for c in self.calls if c["method"] == method]


def buttons_of(message: dict) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", [])
            for b in row}


def find(message: dict, label_part: str) -> str:
    found = [data for label, data in buttons_of(message).items() if label_part in label]
    assert found, f"no button {label_part!r} in {list(buttons_of(message))}"
    return found[0]


class Telegram:
    """People typing and tapping in Telegram; what the bot did is read from ``api``."""

    def __init__(self, app: Application, api: BotApi) -> None:
        self.app, self.api = app, api
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(10_000)

    async def deliver(self, kind: str, payload: dict) -> list[dict]:
        """Hand an update of ``kind`` to the application; the Bot API calls it made."""
        before = len(self.api.calls)
        update = {"update_id": next(self._update_ids), kind: payload}
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self.api.calls[before:]

    async def say(self, text: str, user: int = ANN, chat: int | None = None) -> list[dict]:
        """``user`` sends ``text`` (in their private chat, or in group ``chat``); the messages
        the bot sent back, as recorded ``{"method", "params", "result"}`` calls."""
        who = {"id": user, "is_bot": False, "first_name": NAMES[user]}
        room = ({"id": user, "type": "private", "first_name": NAMES[user]} if chat is None
                else {"id": chat, "type": "group", "title": "Movie night"})
        message: dict[str, Any] = {"message_id": next(self._message_ids),
                                   "date": int(time.time()), "chat": room, "from": who,
                                   "text": text}
        if text.startswith("/"):
            word = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(word.encode("utf-16-le")) // 2}]
        calls = await self.deliver("message", message)
        return [c for c in calls if c["method"] == "sendMessage"]

    async def reply(self, text: str, user: int = ANN, chat: int | None = None) -> dict:
        """The one message the bot answered ``text`` with (its sendMessage parameters)."""
        sent = await self.say(text, user, chat)
        assert len(sent) == 1, f"{len(sent)} replies to {text!r}: {sent}"
        return sent[0]["params"]

    async def inline(self, query: str, user: int = ANN) -> list[dict]:
        """``user`` types "@test_bot ``query``" in some chat; the bot's answers (each try)."""
        who = {"id": user, "is_bot": False, "first_name": NAMES[user]}
        calls = await self.deliver("inline_query", {
            "id": str(next(self._update_ids)), "from": who, "query": query, "offset": ""})
        return [c for c in calls if c["method"] == "answerInlineQuery"]

    async def press(self, message: dict, label_part: str, user: int = ANN,
                    stale: bool = False) -> list[dict]:
        """``user`` taps the button labelled ``label_part`` on the bot's ``message`` (as it
        is now, edits applied, unless the client still shows it ``stale``); every Bot API
        call the bot made in answer."""
        current = (message if stale else
                   self.api.messages[message["chat"]["id"], message["message_id"]])
        query = {"id": str(next(self._update_ids)), "chat_instance": "1",
                 "from": {"id": user, "is_bot": False, "first_name": NAMES[user]},
                 "message": current, "data": find(current, label_part)}
        return await self.deliver("callback_query", query)


Scenario = Callable[[Telegram], Awaitable[None]]


def drive(conversation: Conversation, scenario: Scenario, api: BotApi | None = None,
          backoff: Backoff | None = None) -> BotApi:
    """Run ``scenario`` against the adapter; fails if any handler raised."""
    api = api or BotApi()
    errors: list[object] = []

    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(context.error)

    async def main() -> None:
        app = build_application(conversation, TOKEN, request=api,
                                backoff=backoff or Backoff())
        app.add_error_handler(collect)
        async with app:
            await app.post_init(app)  # as serve_telegram does: the menu and the outbox
            await scenario(Telegram(app, api))

    asyncio.run(main())
    assert errors == []
    return api


@pytest.fixture
def conversation(chat_with):
    return chat_with(ANN)


def sent_message(call: dict) -> dict:
    """The message a recorded sendMessage call created, as Telegram returned it."""
    assert call["method"] == "sendMessage"
    return call["result"]


def test_the_command_menu_lists_every_command_with_its_description(conversation):
    async def scenario(tg: Telegram) -> None:
        registered = {c for handlers in tg.app.handlers.values() for h in handlers
                      if isinstance(h, CommandHandler) for c in h.commands}
        [menu] = tg.api.called("setMyCommands")
        names = [c["command"] for c in menu["commands"]]
        assert len(names) == len(set(names))
        assert set(names) == registered - ADMIN_ONLY
        assert set(names) == {"start", "help", "like", "dislike", "unlike", "rate", "likes",
                              "recommend", "more", "similar", "why", "watchlist", "watch",
                              "unwatch", "forget", "import", "export", "link",
                              "movienight"}
        assert registered >= ADMIN_ONLY
        assert all(c["description"].strip() for c in menu["commands"])
        assert {"command": "recommend", "description": "picks for you"} in menu["commands"]

    api = drive(conversation, scenario)
    assert api.calls[0]["method"] == "getMe"


def test_start_shows_a_keyboard_and_a_press_likes_the_title(conversation):
    async def scenario(tg: Telegram) -> None:
        [start] = await tg.say("/start")
        assert start["params"]["chat_id"] == ANN
        assert start["params"]["parse_mode"] == "HTML"
        assert "Hi, Ann! " in start["params"]["text"]
        assert "Tap a few favourites" in start["params"]["text"]
        assert "❤ Star Wars (1977)" in buttons_of(start["params"])
        assert not tg.api.called("sendChatAction")  # a quick answer needs no "typing…"

        calls = await tg.press(sent_message(start), "Star Wars")
        answer, liked = [c for c in calls if c["method"] != "sendChatAction"]
        assert answer["method"] == "answerCallbackQuery"
        assert answer["params"]["text"] == "Liked"
        assert liked["method"] == "sendMessage"
        assert "❤ Liked Star Wars (1977)." in liked["params"]["text"]

    drive(conversation, scenario)


def test_free_text_looks_a_title_up_and_offers_what_to_do(conversation):
    async def scenario(tg: Telegram) -> None:
        card = await tg.reply("the empire strikes back")
        assert card["text"] == "The Empire Strikes Back (1980)"
        assert list(buttons_of(card)) == ["❤ Like", "➕ Watchlist", "≈ Similar"]
        ambiguous = await tg.reply("godfather")
        assert ambiguous["text"] == 'Several titles match "godfather". Which one?'
        assert {"The Godfather (1972)", "The Godfather: Part II (1974)"} <= set(
            buttons_of(ambiguous))

    drive(conversation, scenario)


def test_ambiguous_like_then_recommend_with_thumbs(conversation):
    async def scenario(tg: Telegram) -> None:
        [choose] = await tg.say("/like godfather")
        assert choose["params"]["text"].startswith("Several titles match")
        calls = await tg.press(sent_message(choose), "The Godfather (1972)")
        [picked] = [c for c in calls if c["method"] == "sendMessage"]
        assert "Liked The Godfather (1972)" in picked["params"]["text"]

        [picks] = await tg.say("/recommend")
        assert picks["params"]["text"].startswith("Picks for you:")
        assert "1. The Godfather: Part II (1974) · Crime, Drama" in picks["params"]["text"]
        assert "because you liked The Godfather" in picks["params"]["text"]
        assert "More picks ▶" in buttons_of(picks["params"])
        calls = await tg.press(sent_message(picks), "1 👍")
        [thumbs] = [c for c in calls if c["method"] == "sendMessage"]
        assert thumbs["params"]["text"].startswith("❤ Liked The Godfather: Part II")

    drive(conversation, scenario)


def test_recommend_with_a_year_range_typed_with_spaces(conversation):
    async def scenario(tg: Telegram) -> None:
        picks = await tg.reply("/recommend 3 movie Sci-Fi 1980 - 1989")
        lines = picks["text"].split("\n")
        assert "Picks for you:" in lines
        headings = [x for x in lines if x[:1].isdigit()]
        assert len(headings) == 3
        assert all("Sci-Fi" in h and " (198" in h for h in headings)
        # The same query over the 1990s, where the small model has no science fiction.
        nineties = await tg.reply("/recommend 3 movie Sci-Fi 1990 - 1999")
        assert nineties["text"].startswith("Nothing matches those filters yet")

    drive(conversation, scenario)


def test_likes_pages_are_edited_in_place(conversation):
    async def scenario(tg: Telegram) -> None:
        for title in ("star wars", "alien 1979", "aliens", "fargo", "notting hill",
                      "dune 2021"):
            await tg.say(f"/like {title}")
        [likes] = await tg.say("/likes")
        assert likes["params"]["text"].startswith("What you told me (6), newest first:")
        assert "Dune (2021)" in likes["params"]["text"]
        assert list(buttons_of(likes["params"])) == ["Older ▶"]
        message = sent_message(likes)

        calls = await tg.press(message, "Older ▶")
        assert [c["method"] for c in calls] == ["answerCallbackQuery", "editMessageText"]
        edit = calls[1]["params"]
        assert (edit["chat_id"], edit["message_id"]) == (ANN, message["message_id"])
        assert "Star Wars (1977)" in edit["text"] and "Dune (2021)" not in edit["text"]
        assert edit["parse_mode"] == "HTML"
        assert list(buttons_of(edit)) == ["◀ Newer"]

        back = await tg.press(message, "◀ Newer")
        assert "Dune (2021)" in back[-1]["params"]["text"]

    drive(conversation, scenario)


def test_a_double_tap_on_a_button_that_edits_is_harmless(conversation):
    """Telegram refuses an edit that changes nothing (400 "message is not modified");
    the second tap of a double tap must not count as a failure."""
    async def scenario(tg: Telegram) -> None:
        [ask] = await tg.say("/forget")
        message = sent_message(ask)
        first = await tg.press(message, "No, keep it")
        assert first[-1]["params"]["text"] == "Nothing was deleted."
        again = await tg.press(message, "No, keep it", stale=True)  # still showing buttons
        assert [c["method"] for c in again] == ["answerCallbackQuery", "editMessageText"]
        assert "not modified" in again[-1]["error"]

    drive(conversation, scenario)  # no handler error


def test_forget_asks_first_and_edits_the_question(conversation):
    async def scenario(tg: Telegram) -> None:
        await tg.say("/like star wars")
        [ask] = await tg.say("/forget")
        assert list(buttons_of(ask["params"])) == ["Yes, delete it all", "No, keep it"]
        calls = await tg.press(sent_message(ask), "Yes")
        assert calls[0]["params"]["text"] == "Deleted"
        assert calls[1]["method"] == "editMessageText"
        assert "deleted" in calls[1]["params"]["text"]
        assert "reply_markup" not in calls[1]["params"]  # the question's buttons are gone
        empty = await tg.reply("/likes")
        assert "You haven't told me anything yet" in empty["text"]

    drive(conversation, scenario)


def test_html_is_escaped(conversation):
    async def scenario(tg: Telegram) -> None:
        unknown = await tg.reply("/like <b>Zzzqqq</b> & co")
        assert "&lt;b&gt;Zzzqqq&lt;/b&gt; &amp; co" in unknown["text"]
        assert "<b>" not in unknown["text"]

    drive(conversation, scenario)


def test_groups_only_hear_commands_and_keep_each_members_taste(conversation):
    async def scenario(tg: Telegram) -> None:
        assert await tg.say("star wars", user=BOB, chat=GROUP) == []
        liked = await tg.reply("/like@test_bot star wars", user=BOB, chat=GROUP)
        assert liked["chat_id"] == GROUP and "Liked Star Wars" in liked["text"]
        assert await tg.say("/like@other_bot fargo", user=BOB, chat=GROUP) == []
        other = await tg.reply("/recommend 1", user=CY, chat=GROUP)
        assert "haven't told me what you like" in other["text"]

    api = drive(conversation, scenario)
    assert len(api.called("sendMessage")) == 2


def test_movie_night_in_a_group(conversation):
    async def scenario(tg: Telegram) -> None:
        await tg.say("/like star wars", user=BOB, chat=GROUP)
        await tg.say("/like@test_bot godfather part ii", user=CY, chat=GROUP)
        joined = await tg.reply("/movienight join", user=BOB, chat=GROUP)
        assert joined["text"].startswith("🍿 Bob is in for movie night.")
        await tg.say("/movienight join", user=CY, chat=GROUP)
        night = await tg.reply("/movienight", user=BOB, chat=GROUP)
        assert night["chat_id"] == GROUP
        assert night["text"].startswith("🍿 Movie night for Bob and Cy:")
        assert "The Empire Strikes Back" in night["text"]
        assert "The Godfather (1972)" in night["text"]
        assert "1 ➕" in buttons_of(night)
        private = await tg.reply("/movienight join", user=BOB)
        assert "Movie night is for group chats" in private["text"]

    drive(conversation, scenario)


def test_long_unprompted_messages_are_split_under_the_limit(conversation):
    """The core's pushes (here to the admin) are escaped and cut into messages of 4096."""
    text = "\n".join(f"{i}. <Title & Co> " * 20 for i in range(200))

    async def scenario(tg: Telegram) -> None:
        await asyncio.to_thread(conversation.tell, None, text)  # from another thread

    api = drive(conversation, scenario)
    parts = api.called("sendMessage")
    assert len(parts) > 1 and all(len(p["text"]) <= 4096 for p in parts)
    assert {p["chat_id"] for p in parts} == {ANN}
    assert all(p["parse_mode"] == "HTML" for p in parts)
    joined = "".join(p["text"].replace("\n", "") for p in parts)
    assert joined.count("&lt;Title &amp; Co&gt;") == 4000


def test_long_replies_are_split_under_the_limit():
    text = "\n".join(f"{i}. <Title & Co> " * 20 for i in range(200))
    parts = chunks(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "".join(p.replace("\n", "") for p in parts).count("&lt;Title &amp; Co&gt;") == 4000
    assert chunks("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_admin_commands_and_retraining_results(conversation, settings):
    """/retrain for admins only, and the core's pushes (retraining results) reach Telegram."""
    from jobs.lock import TrainingLock
    from jobs.service import RetrainService
    from jobs.settings import JobSettings, RetrainSettings

    conversation.jobs = RetrainService(JobSettings(settings, RetrainSettings(cron="off")),
                                       tell=conversation.tell)

    async def scenario(tg: Telegram) -> None:
        refused = await tg.reply("/retrain", user=BOB)
        assert refused["text"] == "Sorry, /retrain is only for the bot's admins."
        with TrainingLock(settings.models_dir).acquire("cron"):
            busy = await tg.reply("/retrain", user=ANN)
        assert "already running" in busy["text"]
        # A result arrives from the training thread, not from a request.
        before = len(tg.api.calls)
        await asyncio.to_thread(conversation.tell, None, "✅ New model <v2> is live.")
        [pushed] = [c["params"] for c in tg.api.calls[before:]]
        assert pushed["chat_id"] == ANN
        assert pushed["text"] == "✅ New model &lt;v2&gt; is live."

    drive(conversation, scenario)


def test_other_messages_get_a_hint(conversation):
    async def scenario(tg: Telegram) -> None:
        before = len(tg.api.calls)
        sticker = {"message_id": 1, "date": int(time.time()),
                   "chat": {"id": ANN, "type": "private", "first_name": "Ann"},
                   "from": {"id": ANN, "is_bot": False, "first_name": "Ann"},
                   "sticker": {"file_id": "s", "file_unique_id": "s", "width": 1,
                               "height": 1, "is_animated": False, "is_video": False,
                               "type": "regular"}}
        await tg.deliver("message", sticker)
        [hint] = [c["params"] for c in tg.api.calls[before:] if c["method"] == "sendMessage"]
        assert hint["text"].startswith("I only understand text.")

    drive(conversation, scenario)


def test_slow_work_shows_typing_and_a_failing_indicator_costs_no_reply(conversation):
    api = BotApi()
    api.failing.add("sendChatAction")
    typing = api.seen["sendChatAction"] = threading.Event()
    answer = conversation.handle_text

    def slow(user, text):  # an answer that takes until "typing…" has gone out
        assert typing.wait(60)
        return answer(user, text)

    conversation.handle_text = slow

    async def scenario(tg: Telegram) -> None:
        liked = await tg.reply("/like star wars")
        assert "Liked Star Wars (1977)" in liked["text"]
        assert tg.api.called("sendChatAction")[-1]["action"] == "typing"

    drive(conversation, scenario, api)


def test_every_reply_arrives_through_429s_and_502s_without_a_traceback(conversation, caplog):
    api = BotApi()
    api.flaky = True

    async def scenario(tg: Telegram) -> None:
        for user in (ANN, BOB, CY):
            ambiguous = await delivered(tg, "/like godfather", user)
            assert ambiguous["text"].startswith('Several titles match "godfather"')
            chosen = await tg.press(ambiguous, "The Godfather (1972)", user)
            assert ok_calls(chosen, "answerCallbackQuery") == 1
            assert "Liked The Godfather" in ok_sent(chosen)[0]["text"]
            picks = await delivered(tg, "/recommend", user)
            assert picks["text"].startswith("Picks for you:")
            likes = await delivered(tg, "/likes", user)
            assert "liked: The Godfather (1972)" in likes["text"]

    with caplog.at_level(logging.INFO):
        drive(conversation, scenario, api, Backoff(first=0.01))
    assert any(c.get("error", "").startswith("Too Many Requests") for c in api.calls)
    assert any(c.get("error") == "Bad Gateway" for c in api.calls)
    assert not [r for r in caplog.records if r.exc_info or "lost" in r.getMessage()]


def ok_sent(calls: list[dict]) -> list[dict]:
    """The messages that did arrive (a failed attempt is recorded with its error)."""
    return [c["result"] for c in calls if c["method"] == "sendMessage" and "error" not in c]


def ok_calls(calls: list[dict], method: str) -> int:
    return sum(1 for c in calls if c["method"] == method and "error" not in c)


async def delivered(tg: Telegram, text: str, user: int) -> dict:
    """The one message that arrived in answer to ``text``, whatever failed on the way."""
    [message] = ok_sent(await tg.say(text, user))
    return message


def test_a_reply_that_fails_for_good_is_one_log_line(conversation, caplog):
    api = BotApi()
    api.failing.add("sendMessage")  # a 400: retrying cannot help

    async def scenario(tg: Telegram) -> None:
        sent = await tg.say("/like star wars")
        assert len(sent) == 1 and "error" in sent[0]  # tried once, not retried

    with caplog.at_level(logging.INFO):
        drive(conversation, scenario, api, Backoff(first=0.01))
    [lost] = [r for r in caplog.records if "lost" in r.getMessage()]
    assert lost.getMessage().startswith("reply to update 1 lost: BadRequest")
    assert not [r for r in caplog.records if r.exc_info]
    assert "123:FAKE" not in caplog.text


def test_flood_control_that_never_lifts_is_one_log_line_too(conversation, caplog,
                                                           monkeypatch):
    monkeypatch.setattr(telegram_adapter, "RETRY_AFTER_TRIES", 1)  # each wait is 1.1 s
    api = BotApi()
    api.flooded.add("sendMessage")

    async def scenario(tg: Telegram) -> None:
        sent = await tg.say("/like star wars")
        assert len(sent) == 2 and all("error" in c for c in sent)  # waited once, tried again

    with caplog.at_level(logging.INFO):
        drive(conversation, scenario, api, Backoff(first=0.01))
    [lost] = [r for r in caplog.records if "lost" in r.getMessage()]
    assert lost.getMessage().startswith("reply to update 1 lost: RetryAfter")
    assert not [r for r in caplog.records if r.exc_info]


def test_inline_answers_arrive_through_429s_and_502s_without_a_traceback(conversation,
                                                                        caplog):
    api = BotApi()
    api.flaky = True

    async def scenario(tg: Telegram) -> None:
        for user, query in ((ANN, "alien"), (BOB, ""), (CY, "godfather"), (ANN, "zzqx")):
            tries = await tg.inline(query, user)
            [answered] = [c["params"] for c in tries if "error" not in c]
            assert len({r["id"] for r in answered["results"]}) == len(answered["results"])
        assert any("error" in c for c in tg.api.calls if c["method"] == "answerInlineQuery")

    with caplog.at_level(logging.INFO):
        drive(conversation, scenario, api, Backoff(first=0.01))
    assert not [r for r in caplog.records if r.exc_info or "lost" in r.getMessage()]


def test_an_inline_answer_that_fails_for_good_is_one_log_line(conversation, caplog):
    api = BotApi()
    api.failing.add("answerInlineQuery")  # a 400: retrying cannot help

    async def scenario(tg: Telegram) -> None:
        [refused] = await tg.inline("alien")
        assert "error" in refused
        assert "Liked Alien" in (await tg.reply("/like alien"))["text"]  # the bot carries on

    with caplog.at_level(logging.INFO):
        drive(conversation, scenario, api, Backoff(first=0.01))
    [lost] = [r for r in caplog.records if "lost" in r.getMessage()]
    assert re.fullmatch(r"reply to update \d+ lost: BadRequest: .*", lost.getMessage())
    assert not [r for r in caplog.records if r.exc_info]
