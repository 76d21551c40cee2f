"""A fake Telegram Bot API server for the end-to-end journey with the real python-telegram-bot.

Point a PTB ``Application`` at it and drive the bot like a user would::

    with FakeTelegram() as fake:
        app = build_application(conversation, fake.token, fake.api_url)
        ...  # run_bot(app, scenario) polls the fake until the scenario ends
        fake.send_text("/start")
        [call] = fake.wait_for("sendMessage")
        fake.press(fake.last_message_to(1001), "pick:1")

The server listens on ``127.0.0.1`` (random port) and answers ``POST /bot<token>/<method>``
like Telegram does: ``{"ok": true, "result": ...}``. PTB sends form-encoded requests whose
non-string values (``reply_markup``, ``commands``) are JSON; they are decoded before being
recorded in :meth:`FakeTelegram.calls`.

Only what the journeys use is emulated: ``getMe``, ``deleteWebhook``, ``getUpdates``
(honours ``offset`` and ``limit``, and holds an empty long poll for up to ``max_poll_hold``
seconds, returning as soon as an update is queued), ``sendMessage``, ``editMessageText``
(the keyboard goes unless it is sent again), ``answerCallbackQuery``, ``sendChatAction``,
``setMyCommands``, and files: a user sends a document (:meth:`FakeTelegram.send_document`),
the bot fetches it with ``getFile`` and ``GET /file/bot<token>/<file_path>``, and sends
its own with ``sendDocument`` (multipart; recorded with ``{"filename", "data"}``), and
inline mode: a user types "@bot alien" (:meth:`FakeTelegram.send_inline`) and the bot's
``answerInlineQuery`` is checked as Telegram checks it (a 400 for what Telegram refuses:
an unknown or twice-answered query, over 50 results, ids not unique, a deep-link payload
outside ``[A-Za-z0-9_-]{1,64}``...). Any other method is recorded and answered with 404
``Not Found: method X``. Private chats only.
Everything else the adapter does is tested at the request layer
(``tests/test_telegram_adapter.py``).
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.httpserver import LocalServer, json_handler

# Parameters whose form value is a plain string and must not be JSON-decoded
# (a text of "42" must stay "42"); every other value is decoded when it is valid JSON.
# Waits return as soon as what they wait for happens; the ceiling only has to be generous
# enough for a machine with both cores busy.
WAIT = 60.0
STRING_PARAMS = frozenset({"text", "parse_mode", "callback_query_id", "action",
                           "description", "inline_query_id", "next_offset"})
START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")  # Telegram's rule for deep links
MAX_RESULTS = 50
RESULT_TYPES = frozenset({"article"})  # the only kind the bot sends


class BadRequest(Exception):
    """What Telegram answers with 400 "Bad Request: ..."."""


def _deep_link_ok(url: str) -> bool:
    """A t.me link's ``start`` payload, if any, is one Telegram accepts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "tg"):
        return False
    starts = [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "start"]
    return all(START_PARAMETER.fullmatch(v) for v in starts)


def check_inline_answer(params: dict) -> None:
    """Raise :class:`BadRequest` for an ``answerInlineQuery`` Telegram would refuse."""
    results = params.get("results")
    if not isinstance(results, list) or len(results) > MAX_RESULTS:
        raise BadRequest(f"Bad Request: at most {MAX_RESULTS} results must be specified")
    ids = [r.get("id") for r in results]
    if len(set(ids)) != len(ids) or not all(
            isinstance(i, str) and 1 <= len(i.encode()) <= 64 for i in ids):
        raise BadRequest("Bad Request: RESULT_ID_DUPLICATE")
    for result in results:
        _check_result(result)
    button = params.get("button")
    if button is not None and not START_PARAMETER.fullmatch(
            str(button.get("start_parameter", ""))):
        raise BadRequest("Bad Request: START_PARAM_INVALID")
    if not 0 <= int(params.get("cache_time", 300)) <= 86400:
        raise BadRequest("Bad Request: cache_time out of range")


def _check_result(result: dict) -> None:
    content = result.get("input_message_content") or {}
    text = content.get("message_text", "")
    if result.get("type") not in RESULT_TYPES or not str(result.get("title", "")).strip():
        raise BadRequest("Bad Request: RESULT_TYPE_INVALID")
    if not 1 <= len(text) <= 4096:
        raise BadRequest("Bad Request: MESSAGE_TEXT_INVALID")
    rows = (result.get("reply_markup") or {}).get("inline_keyboard", [])
    if not all(_deep_link_ok(b["url"]) for row in rows for b in row if "url" in b):
        raise BadRequest("Bad Request: BUTTON_URL_INVALID")


def _decode(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _multipart(content_type: str, body: bytes) -> dict:
    """A multipart/form-data request's fields: files as ``{"filename", "data"}``, other
    values decoded as form values are."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            params[name] = {"filename": part.get_filename(), "data": data}
        else:
            params[name] = _decode(name, data.decode("utf-8"))
    return params


class FakeTelegram:
    """In-process fake of the Bot API; use as a context manager (see module docstring)."""

    token = "123:FAKE"
    #: longest time an empty ``getUpdates`` long poll is held (seconds)
    max_poll_hold = 0.5

    def __init__(self) -> None:
        self.bot_user: dict = {"id": 123, "is_bot": True, "first_name": "TestBot",
                               "username": "test_bot"}
        self._cond = threading.Condition()
        self._calls: list[dict] = []
        self._updates: list[dict] = []
        self._ids = itertools.count(1)
        self._messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> current
        self._sent: list[dict] = []  # as sent, edits not applied
        self._last_in_chat: dict[int, dict] = {}
        self._closed = False
        self._methods: dict[str, Callable[[dict], Any]] = {
            "getMe": lambda p: self.bot_user, "deleteWebhook": lambda p: True,
            "getUpdates": self._get_updates, "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "answerCallbackQuery": lambda p: True, "sendChatAction": lambda p: True,
            "setMyCommands": lambda p: True, "getFile": self._get_file,
            "sendDocument": self._send_document,
            "answerInlineQuery": self._answer_inline_query,
        }
        # What Telegram refuses with a 400, checked (under the lock) before a call is recorded
        self._checks: dict[str, Callable[[dict], None]] = {
            "answerInlineQuery": self._check_inline_query}
        self._open_queries: set[str] = set()  # inline queries not answered yet
        self._files: dict[str, bytes] = {}  # file_id -> what the user sent
        self.server = LocalServer(json_handler(self._answer, "FakeTelegram/1.0"),
                                  name="fake-telegram")

    def __enter__(self) -> FakeTelegram:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # release held long polls
        self.server.__exit__(*exc)

    @property
    def api_url(self) -> str:
        """What ``build_application`` takes as ``api_base_url``."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """PTB's ``base_url``: the API URL up to the token."""
        return f"{self.server.url}/bot"

    # -- driving the bot -------------------------------------------------------------------

    def _queue(self, kind: str, payload: dict) -> dict:
        with self._cond:
            update = {"update_id": next(self._ids), kind: payload}
            self._updates.append(update)
            self._cond.notify_all()
            return copy.deepcopy(update)

    @staticmethod
    def _user(user_id: int) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": "Ann"}

    def send_text(self, text: str, *, user_id: int = 1001) -> dict:
        """Queue a user's text message in their private chat; a leading ``/word`` gets a
        ``bot_command`` entity, as Telegram clients send it."""
        message: dict = {"message_id": next(self._ids), "date": int(time.time()),
                         "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
                         "from": self._user(user_id), "text": text}
        if text.startswith("/"):
            word = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(word.encode("utf-16-le")) // 2}]
        return self._queue("message", message)

    def send_document(self, data: bytes, file_name: str, *, user_id: int = 1001,
                      mime_type: str = "text/csv", file_size: int | None = None) -> dict:
        """Queue a user's document (a file) in their private chat; ``file_size`` is what
        Telegram tells the bot (the real size unless given)."""
        with self._cond:
            file_id = f"doc{next(self._ids)}"
            self._files[file_id] = data
        message = {"message_id": next(self._ids), "date": int(time.time()),
                   "chat": {"id": user_id, "type": "private", "first_name": "Ann"},
                   "from": self._user(user_id),
                   "document": {"file_id": file_id, "file_unique_id": f"u{file_id}",
                                "file_name": file_name, "mime_type": mime_type,
                                "file_size": len(data) if file_size is None else file_size}}
        return self._queue("message", message)

    def send_inline(self, query: str, *, user_id: int = 1001) -> dict:
        """Queue an inline query: ``user_id`` types "@bot ``query``" in some chat."""
        with self._cond:
            query_id = str(next(self._ids))
            self._open_queries.add(query_id)
        return self._queue("inline_query", {"id": query_id, "from": self._user(user_id),
                                            "query": query, "offset": "",
                                            "chat_type": "sender"})

    def inline_answers(self) -> list[dict]:
        """The bot's accepted ``answerInlineQuery`` calls' parameters, in order."""
        return [c["params"] for c in self.calls("answerInlineQuery") if "error" not in c]

    def documents(self) -> list[dict]:
        """Files the bot sent with ``sendDocument``: ``{"chat_id", "filename", "data"}``."""
        return [{"chat_id": c["params"]["chat_id"], **c["params"]["document"]}
                for c in self.calls("sendDocument")]

    def press(self, message: dict, data: str, *, user_id: int = 1001) -> dict:
        """Queue a callback query: ``user_id`` presses a button (``data``) under ``message``."""
        with self._cond:
            current = self._messages.get((message["chat"]["id"], message["message_id"]),
                                         message)
            query = {"id": str(next(self._ids)), "from": self._user(user_id),
                     "message": copy.deepcopy(current), "chat_instance": "1", "data": data}
        return self._queue("callback_query", query)

    # -- inspecting what the bot did -------------------------------------------------------

    def calls(self, method: str | None = None) -> list[dict]:
        """Recorded requests ``{"method", "params"}`` in order."""
        with self._cond:
            return copy.deepcopy([c for c in self._calls if method in (None, c["method"])])

    def sent(self) -> list[dict]:
        """Messages sent with ``sendMessage``, as they were sent (edits not applied)."""
        with self._cond:
            return copy.deepcopy(self._sent)

    def last_message_to(self, chat_id: int) -> dict:
        """The bot's latest message (sent or edited) in ``chat_id``, edits applied."""
        with self._cond:
            if chat_id not in self._last_in_chat:
                raise AssertionError(f"the bot sent nothing to chat {chat_id}")
            return copy.deepcopy(self._last_in_chat[chat_id])

    def wait_for(self, method: str, count: int = 1, timeout: float = WAIT) -> list[dict]:
        """Block until ``method`` was called ``count`` times in total; returns calls(method)."""
        def got() -> int:
            return sum(1 for c in self._calls if c["method"] == method)

        with self._cond:
            if not self._cond.wait_for(lambda: got() >= count, timeout):
                seen = Counter(c["method"] for c in self._calls)
                raise AssertionError(f"timed out after {timeout}s waiting for {count} call(s) "
                                     f"of {method}, got {got()}; recorded: {dict(seen)}")
        return self.calls(method)

    # -- the Bot API -----------------------------------------------------------------------

    def _answer(self, verb: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        url = urlsplit(path)
        prefix = f"/bot{self.token}/"
        if url.path.startswith(f"/file/bot{self.token}/documents/"):
            with self._cond:
                found = self._files.get(url.path.rsplit("/", 1)[-1])
            return (200, found) if found is not None else (404, {"ok": False})
        if not url.path.startswith(prefix):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = url.path[len(prefix):]
        if (headers.get("Content-Type") or "").startswith("multipart/form-data"):
            params = _multipart(headers["Content-Type"], body)
        else:
            form = parse_qsl(url.query + "&" + body.decode("utf-8"), keep_blank_values=True)
            params = {k: _decode(k, v) for k, v in form}
        call = {"method": method, "params": params}
        with self._cond:  # refused or not is known when the call is recorded
            try:
                self._checks.get(method, lambda p: None)(params)
            except BadRequest as exc:
                call["error"] = str(exc)
            self._calls.append(call)
            self._cond.notify_all()
        if "error" in call:
            return 400, {"ok": False, "error_code": 400, "description": call["error"]}
        if method not in self._methods:
            return 404, {"ok": False, "error_code": 404,
                         "description": f"Not Found: method {method}"}
        return 200, {"ok": True, "result": self._methods[method](params)}

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        hold = min(float(params.get("timeout") or 0), self.max_poll_hold)
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._cond.wait_for(lambda: self._updates or self._closed, hold)
            return copy.deepcopy(self._updates[:limit])

    def _check_inline_query(self, params: dict) -> None:
        if params.get("inline_query_id") not in self._open_queries:
            raise BadRequest("Bad Request: query is too old and response timeout "
                             "expired or query ID is invalid")
        check_inline_answer(params)
        self._open_queries.discard(params["inline_query_id"])  # answered once only

    @staticmethod
    def _answer_inline_query(_params: dict) -> bool:
        return True

    def _get_file(self, params: dict) -> dict:
        file_id = params["file_id"]
        with self._cond:
            size = len(self._files[file_id])
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size,
                "file_path": f"documents/{file_id}"}

    def _send_document(self, params: dict) -> dict:
        chat_id = params["chat_id"]
        with self._cond:
            document = params["document"]
            return {"message_id": next(self._ids), "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                    "from": self.bot_user,
                    "document": {"file_id": f"sent{next(self._ids)}", "file_unique_id": "s",
                                 "file_name": document["filename"],
                                 "file_size": len(document["data"])}}

    def _send_message(self, params: dict) -> dict:
        chat_id = params["chat_id"]
        with self._cond:
            message: dict = {"message_id": next(self._ids), "date": int(time.time()),
                             "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                             "from": self.bot_user, "text": params["text"]}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self._messages[chat_id, message["message_id"]] = message
            self._sent.append(copy.deepcopy(message))
            self._last_in_chat[chat_id] = message
            return message

    def _edit_message_text(self, params: dict) -> dict:
        chat_id = params["chat_id"]
        with self._cond:
            edited = {**self._messages[chat_id, params["message_id"]], "text": params["text"],
                      "edit_date": int(time.time())}
            edited.pop("reply_markup", None)  # Telegram drops the keyboard unless re-sent
            if params.get("reply_markup"):
                edited["reply_markup"] = params["reply_markup"]
            self._messages[chat_id, edited["message_id"]] = edited
            self._last_in_chat[chat_id] = edited
            return edited


def run_bot(app, scenario) -> None:
    """Run a python-telegram-bot ``Application`` polling the fake until ``scenario`` ends.

    Runs ``post_init`` first, as ``run_polling`` would (bots register their menu there).
    """
    import asyncio

    async def main() -> None:
        async with app:
            if app.post_init is not None:
                await app.post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0)
            try:
                await scenario()
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(main())
