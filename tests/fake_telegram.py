"""A fake Telegram Bot API server for end-to-end tests with the real python-telegram-bot.

Point a PTB ``Application`` at it and drive the bot like a user would::

    with FakeTelegram() as fake:
        app = (Application.builder().token(fake.token).base_url(fake.base_url)
               .base_file_url(fake.base_file_url).build())
        ...  # start polling
        fake.send_text("/start")
        [call] = fake.wait_for("sendMessage")
        fake.press(fake.last_message_to(1001), "pick:1")

The server listens on ``127.0.0.1`` (random port) and answers
``POST /bot<token>/<method>`` like Telegram does: ``{"ok": true, "result": ...}``.
Requests are form encoded (``application/x-www-form-urlencoded``, or ``multipart/form-data``
when files are uploaded); non-string values such as ``reply_markup`` arrive as JSON strings
and are decoded before being recorded in :meth:`FakeTelegram.calls`.

Deliberately realistic details:

* ``getUpdates`` honours ``offset`` (confirmed updates are forgotten, negative offsets count
  from the end) and ``limit``, and holds an empty long poll for up to
  ``min(timeout, max_poll_hold)`` seconds, returning early as soon as an update is queued.
* ``deleteWebhook(drop_pending_updates=true)`` drops the queued updates.
* ``editMessageText`` without ``reply_markup`` removes the inline keyboard, and an edit that
  changes nothing fails with 400 "message is not modified" (set ``not_modified_errors`` to
  ``False`` to allow it); editing an unknown message fails with 400 "message to edit not found".
* ``setMyCommands``/``getMyCommands``/``deleteMyCommands`` are kept per (scope, language_code).
* Unknown methods are recorded and answered with HTTP 404 ``Not Found: method X``; a wrong
  token gets HTTP 401 ``Unauthorized``.

Not emulated: ``parse_mode`` (text is echoed verbatim, no entities), media, inline mode.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Parameters whose form value is a plain string and must not be JSON-decoded
# (a text of "42" must stay "42"); every other value is decoded when it is valid JSON.
STRING_PARAMS = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "inline_message_id", "url",
    "action", "description", "short_description", "name", "title", "language_code", "query",
    "emoji", "question", "explanation", "first_name", "last_name", "phone_number", "vcard",
    "address", "business_connection_id", "message_effect_id", "secret_token", "ip_address",
    "photo", "audio", "document", "video", "animation", "voice", "video_note", "sticker",
    "thumbnail", "media", "certificate", "switch_pm_text", "next_offset", "custom_title",
})


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _decode_value(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Split a multipart/form-data body into name -> str (fields) or dict (uploaded files)."""
    header = EmailMessage()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise _ApiError(400, "Bad Request: multipart body without boundary")
    fields: dict[str, Any] = {}
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # closing delimiter
            break
        head, _, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        part = message_from_bytes(head + b"\r\n\r\n", policy=HTTP)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is None and part.get_content_maintype() == "text":
            fields[name] = value.decode(part.get_content_charset() or "utf-8")
        else:
            fields[name] = {"filename": filename, "content_type": part.get_content_type(),
                            "data": value}
    return fields


def _parse_params(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    mime = content_type.split(";")[0].strip().lower()
    if mime == "multipart/form-data":
        raw.update(_parse_multipart(content_type, body))
    elif mime == "application/json":
        raw.update(json.loads(body or b"{}"))
        return raw
    elif body:
        raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    return {k: _decode_value(k, v) if isinstance(v, str) else v for k, v in raw.items()}


def _command_entity(text: str) -> list[dict]:
    if not text.startswith("/"):
        return []
    word = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(word.encode("utf-16-le")) // 2}]


class FakeTelegram:
    """In-process fake of the Bot API; use as a context manager (see module docstring)."""

    token = "123:FAKE"
    #: longest time an empty ``getUpdates`` long poll is held (seconds)
    max_poll_hold = 0.5
    #: answer no-op edits with 400 "message is not modified", like Telegram
    not_modified_errors = True

    def __init__(self) -> None:
        self.bot_user: dict = {"id": 123, "is_bot": True, "first_name": "TestBot",
                               "username": "test_bot"}
        self._cond = threading.Condition()
        self._calls: list[dict] = []
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._users: dict[int, dict] = {}
        self._chats: dict[int, dict] = {}
        self._messages: dict[tuple[int, int], dict] = {}  # (chat id, message id) -> current
        self._sent: list[dict] = []  # snapshots as sent
        self._last_in_chat: dict[int, dict] = {}
        self._commands: dict[tuple[str, str], list] = {}
        self._closed = False
        #: exceptions raised while handling requests (bugs in the fake), for debugging
        self.errors: list[str] = []
        self._handlers: dict[str, Callable[[dict], Any]] = {
            "getme": lambda p: self.bot_user,
            "deletewebhook": self._delete_webhook,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": lambda p: True,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "sendchataction": lambda p: True,
            "close": lambda p: True,
            "logout": lambda p: True,
        }
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-telegram")

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # release held long polls
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- driving the bot -------------------------------------------------------------------

    def _user(self, user_id: int, first_name: str | None = None) -> dict:
        user = self._users.get(user_id)
        if user is None or (first_name is not None and user["first_name"] != first_name):
            user = {"id": user_id, "is_bot": False, "first_name": first_name or "Ann"}
            self._users[user_id] = user
        return user

    def _chat(self, chat_id: int) -> dict:
        chat = self._chats.get(chat_id)
        if chat is None:
            if chat_id < 0:
                chat = {"id": chat_id, "type": "group", "title": "Movie night"}
            else:
                name = self._users.get(chat_id, {}).get("first_name", "Ann")
                chat = {"id": chat_id, "type": "private", "first_name": name}
            self._chats[chat_id] = chat
        return chat

    def _queue(self, kind: str, payload: dict) -> dict:
        update = {"update_id": next(self._update_ids), kind: payload}
        self._updates.append(update)
        self._cond.notify_all()
        return copy.deepcopy(update)

    def send_text(self, text: str, *, user_id: int = 1001, chat_id: int | None = None,
                  chat_type: str = "private", first_name: str = "Ann",
                  entities: list[dict] | None = None) -> dict:
        """Queue a user's text message; a leading ``/word`` gets a ``bot_command`` entity.

        Pass ``entities`` to override the computed ones; with ``[]`` PTB's ``CommandHandler``
        ignores even a "/start".
        """
        with self._cond:
            user = self._user(user_id, first_name)
            chat_id = user_id if chat_id is None else chat_id
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": first_name}
            else:
                chat = {"id": chat_id, "type": chat_type, "title": "Movie night"}
            self._chats[chat_id] = chat
            message: dict = {"message_id": next(self._message_ids), "date": int(time.time()),
                             "chat": dict(chat), "from": dict(user), "text": text}
            entities = _command_entity(text) if entities is None else entities
            if entities:
                message["entities"] = entities
            return self._queue("message", message)

    def press(self, message: dict, data: str, *, user_id: int = 1001) -> dict:
        """Queue a callback query: ``user_id`` presses a button (``data``) under ``message``."""
        with self._cond:
            key = (message["chat"]["id"], message["message_id"])
            current = self._messages.get(key, message)
            query = {"id": str(next(self._callback_ids)), "from": dict(self._user(user_id)),
                     "message": self._for_api(current), "chat_instance": str(key[0]),
                     "data": data}
            return self._queue("callback_query", query)

    # -- inspecting what the bot did -------------------------------------------------------

    def calls(self, method: str | None = None) -> list[dict]:
        """Recorded requests ``{"method", "params", "content_type"}`` in order."""
        with self._cond:
            return copy.deepcopy([c for c in self._calls
                                  if method is None or c["method"].lower() == method.lower()])

    def sent(self) -> list[dict]:
        """Messages sent with ``sendMessage``, as they were sent (edits not applied)."""
        with self._cond:
            return copy.deepcopy(self._sent)

    def last_message_to(self, chat_id: int) -> dict:
        """The bot's latest message (sent or edited) in ``chat_id``, edits applied."""
        with self._cond:
            if chat_id not in self._last_in_chat:
                raise AssertionError(f"the bot sent nothing to chat {chat_id}; "
                                     f"chats with messages: {sorted(self._last_in_chat)}")
            return copy.deepcopy(self._last_in_chat[chat_id])

    def _count(self, method: str) -> int:
        return sum(1 for c in self._calls if c["method"].lower() == method.lower())

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """Block until ``method`` was called ``count`` times in total; returns calls(method)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._count(method) >= count, timeout):
                seen = Counter(c["method"] for c in self._calls)
                recent = [(c["method"], c["params"]) for c in self._calls
                          if c["method"] != "getUpdates"][-5:]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} call(s) of {method}, "
                    f"got {self._count(method)}; recorded methods: {dict(seen)}; "
                    f"last non-poll calls: {recent}"
                    + (f"; server errors: {self.errors}" if self.errors else ""))
        return self.calls(method)

    # -- request handling ------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "FakeTelegram/1.0"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()  # PTB cancels the in-flight long poll on stop

            def do_GET(self) -> None:
                self._respond(b"")

            def do_POST(self) -> None:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._respond(body)

            def _respond(self, body: bytes) -> None:
                status, payload = fake._dispatch(
                    self.path, self.headers.get("Content-Type", ""), body)
                data = json.dumps(payload).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

        return Handler

    def _dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, dict]:
        url = urlsplit(path)
        prefix = f"/bot{self.token}/"
        if not url.path.startswith(prefix):
            if url.path.startswith(("/bot", "/file/bot")) and self.token not in url.path:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = url.path[len(prefix):]
        try:
            params = _parse_params(content_type, body, url.query)
        except (ValueError, _ApiError) as exc:
            params = {"_unparsed": body.decode("utf-8", "replace"), "_error": str(exc)}
        with self._cond:
            self._calls.append({"method": method, "params": params,
                                "content_type": content_type.split(";")[0]})
            self._cond.notify_all()
        handler = self._handlers.get(method.lower())
        if handler is None:
            return 404, {"ok": False, "error_code": 404,
                         "description": f"Not Found: method {method}"}
        try:
            result = handler(copy.deepcopy(params))
        except _ApiError as exc:
            return exc.code, {"ok": False, "error_code": exc.code,
                              "description": exc.description}
        except Exception as exc:  # a bug in the fake: report it instead of hanging the bot
            self.errors.append(f"{method}: {exc!r}")
            return 500, {"ok": False, "error_code": 500,
                         "description": f"Internal Server Error: {exc!r}"}
        return 200, {"ok": True, "result": result}

    # -- Bot API methods -------------------------------------------------------------------

    def _delete_webhook(self, params: dict) -> bool:
        if params.get("drop_pending_updates"):
            with self._cond:
                self._updates.clear()
        return True

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(int(params.get("limit") or 100), 100))
        hold = min(float(params.get("timeout") or 0), self.max_poll_hold)
        with self._cond:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            if hold > 0:
                self._cond.wait_for(lambda: self._updates or self._closed, hold)
            return copy.deepcopy(self._updates[:limit])

    def _for_api(self, message: dict) -> dict:
        """A stored message as Telegram would return it (Message.reply_markup is inline only)."""
        result = copy.deepcopy(message)
        markup = result.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            del result["reply_markup"]
        return result

    def _chat_id(self, params: dict) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _send_message(self, params: dict) -> dict:
        chat_id = self._chat_id(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        with self._cond:
            message: dict = {"message_id": next(self._message_ids), "date": int(time.time()),
                             "chat": dict(self._chat(chat_id)), "from": dict(self.bot_user),
                             "text": text}
            if params.get("reply_markup") is not None:
                message["reply_markup"] = params["reply_markup"]
            self._messages[(chat_id, message["message_id"])] = message
            self._sent.append(copy.deepcopy(message))
            self._last_in_chat[chat_id] = message
            return self._for_api(message)

    def _edit(self, params: dict, change: Callable[[dict], None]) -> dict | bool:
        if params.get("inline_message_id"):
            return True
        chat_id = self._chat_id(params)
        with self._cond:
            message = self._messages.get((chat_id, params.get("message_id")))
            if message is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            edited = copy.deepcopy(message)
            change(edited)
            if self.not_modified_errors and edited == message:
                raise _ApiError(400, "Bad Request: message is not modified: specified new "
                                     "message content and reply markup are exactly the same "
                                     "as a current content and reply markup of the message")
            edited["edit_date"] = int(time.time())
            self._messages[(chat_id, edited["message_id"])] = edited
            self._last_in_chat[chat_id] = edited
            return self._for_api(edited)

    def _edit_message_text(self, params: dict) -> dict | bool:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")

        def change(message: dict) -> None:
            message["text"] = text
            message.pop("reply_markup", None)  # Telegram drops the keyboard unless re-sent
            if params.get("reply_markup") is not None:
                message["reply_markup"] = params["reply_markup"]

        return self._edit(params, change)

    def _edit_message_reply_markup(self, params: dict) -> dict | bool:
        def change(message: dict) -> None:
            message.pop("reply_markup", None)
            if params.get("reply_markup") is not None:
                message["reply_markup"] = params["reply_markup"]

        return self._edit(params, change)

    @staticmethod
    def _commands_key(params: dict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code") or ""

    def _set_my_commands(self, params: dict) -> bool:
        with self._cond:
            self._commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _delete_my_commands(self, params: dict) -> bool:
        with self._cond:
            self._commands.pop(self._commands_key(params), None)
        return True

    def _get_my_commands(self, params: dict) -> list:
        with self._cond:
            return copy.deepcopy(self._commands.get(self._commands_key(params), []))


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
