"""A fake Discord REST API for the end-to-end journey with the real discord.py (no mocks).

Covers what the journey needs: login, syncing slash commands, slash commands in a DM and
button presses, answered by interaction callbacks, deferrals and followups, and DMs the bot
sends; and the faults of a real network, on request::

    with FakeDiscord() as fake:
        client = discord.Client(intents=discord.Intents.none())
        tree = discord.app_commands.CommandTree(client)
        ...  # define commands, add_dynamic_items(...)

        async def scenario() -> None:
            async with connect(client, fake):        # login against the fake, not Discord
                await tree.sync()                    # the fake records the commands
                hi = fake.slash("hello", {"name": "Ann"}, user_id=1001)
                await dispatch(client, hi)           # INTERACTION_CREATE, as from the gateway
                body = await fake.response(hi)       # the type-4/7 callback the bot sent
                assert body["data"]["content"] == "Hi Ann"

        asyncio.run(scenario())

The server listens on ``127.0.0.1`` (random port) and answers these Discord REST v10 routes
under :attr:`FakeDiscord.base_url`, named as in :meth:`FakeDiscord.calls`:

* ``GET /users/@me`` get_me -- ``GET /oauth2/applications/@me`` application_info (login)
* ``PUT /applications/{app}/commands`` sync_global_commands
* ``POST /interactions/{id}/{token}/callback`` interaction_callback: type 4 (a new message),
  5 (deferred: a "thinking…" message), 6 (a button's deferred update) and 7 (edit the
  message whose button was pressed), answered as discord.py asks (``?with_response=1``)
* ``POST /webhooks/{app}/{token}`` followup: a new message, or for a type-5 deferral first
  the "thinking…" message replaced (as Discord does); 404/10015 before the interaction was
  acknowledged -- ``PATCH /webhooks/{app}/{token}/messages/@original`` edit_original
* ``GET /users/{id}`` get_user -- ``POST /users/@me/channels`` create_dm --
  ``POST /channels/{id}/messages`` send_message (DMs the bot sends; a repeated
  ``enforce_nonce`` send returns the message it made, as Discord does for a few minutes)
* anything else: 404, recorded as ``"unknown METHOD /path"``

Every answer carries ``Via: 1.1 google``, as Discord's do. :meth:`FakeDiscord.fail` answers
the next calls of a route with faults instead: :func:`rate_limited` (a 429 with a float
``retry_after``, per route or global), :func:`server_error`, :func:`refused`, :data:`RESET`
(the connection reset before the request is carried out) and :data:`LOST_ANSWER` (carried
out, then the connection reset). :func:`library_waits` records the delays discord.py waits
before its retries instead of sleeping them.

:func:`connect` points discord.py at the fake by setting the class attribute
``discord.http.Route.BASE`` (restored on exit), logs the client in (which runs
``setup_hook``), marks it ready and closes it on exit. :func:`dispatch` hands an
``INTERACTION_CREATE`` payload to the gateway's parser
(``client._connection.parsers["INTERACTION_CREATE"]``), so ``CommandTree`` and
``DynamicItem`` buttons dispatch as in production; it first waits for the handlers of the
previous interaction (:func:`settle`), as a person is slower than the bot.

Realistic where the journey could go wrong: messages are validated like Discord does
(content <= 2000, embed limits, 5 rows of 5 buttons, custom_id <= 100 and unique, label <= 80,
no empty message) and commands on sync (names, descriptions, required options first, <= 25
choices); an interaction is answered once (400/40060 after that, 404/10062 for an unknown
one). The builders refuse what a Discord client could not send: unknown commands or options,
missing required ones, values outside the choices, presses of buttons that are not on the
message. Errors discord.py logs while connected are collected in
:attr:`FakeDiscord.library_errors` and make waits fail fast: a wait for an interaction fails
on any error logged since the interaction was built, even one logged before the wait began.

Files: an attachment option (type 11) is given to :meth:`FakeDiscord.slash` as
``{"filename", "data"}``; the fake puts it in the payload's ``resolved`` attachments and
serves its bytes at its ``url`` (``GET /attachments/...``, as Discord's CDN), counted in
:attr:`FakeDiscord.downloads`. Messages sent with files (multipart, ``payload_json``) are
recorded with ``"files": [{"filename", "data"}]``.

Not covered: the websocket gateway, rate-limit headers on successful answers (buckets that
discord.py would pre-empt), guilds, autocomplete. The adapter's use of guilds and
autocomplete is tested at discord.py's request layer in ``tests/test_discord_adapter.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import email.parser
import email.policy
import itertools
import json
import logging
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import discord
import discord.webhook.async_
from discord.http import Route

from tests.httpserver import LocalServer, json_handler

# Waits return as soon as what they wait for happens; the ceiling only has to be generous
# enough for a machine with both cores busy.
WAIT = 60.0
DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
DEFERRED, DEFERRED_UPDATE, LOADING = 5, 6, 1 << 7  # "thinking…", a quiet button ack; flag
# callback type -> interaction types it may answer
CALLBACK_ALLOWED = {4: {2, 3}, DEFERRED: {2, 3}, DEFERRED_UPDATE: {3}, 7: {3}}
NAME_RE = re.compile(r"^[-_a-z0-9]{1,32}$")
OPTION_TYPES: dict[int, Callable[[Any], bool]] = {
    3: lambda v: isinstance(v, str), 5: lambda v: isinstance(v, bool),
    4: lambda v: isinstance(v, int) and not isinstance(v, bool),
    10: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    11: lambda v: isinstance(v, dict) and isinstance(v.get("data"), bytes)}
ATTACHMENT = 11
LIBRARY_TASK_PREFIXES = ("CommandTree-invoker", "discord-ui-view-dispatch-",
                         "discord-ui-dynamic-item-", "discord.py: ")


class _ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors


def _form_error(field: str, code: str, message: str) -> _ApiError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field.split(".")):
        errors = {part: errors}
    return _ApiError(400, 50035, "Invalid Form Body", errors)


def _max_len(field: str, value: Any, limit: int) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise _form_error(field, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


# -- faults: what a real network and Discord's edge do now and then --------------------------


@dataclasses.dataclass(frozen=True)
class Fault:
    """How the fake answers one request instead of the usual way (see :meth:`FakeDiscord.fail`)."""

    status: int | None  # None: no answer at all, the connection is reset
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    served: bool = False  # the request is carried out before its answer is lost


# Every answer from Discord passes its load balancer, which adds this header; discord.py takes
# a 429 without it for a Cloudflare ban and gives up instead of waiting.
VIA = {"Via": "1.1 google"}


def rate_limited(retry_after: float, *, scope: str = "user") -> Fault:
    """Discord's 429: ``retry_after`` seconds (a float) in the body, rounded up in the
    ``Retry-After`` header; ``scope="global"`` for the global limit (every route waits)."""
    is_global = scope == "global"
    return Fault(429, {"message": "You are being rate limited.", "retry_after": retry_after,
                       "global": is_global},
                 {**VIA, "Retry-After": str(math.ceil(retry_after)),
                  "X-RateLimit-Scope": scope,
                  **({"X-RateLimit-Global": "true"} if is_global else {})})


def server_error(status: int) -> Fault:
    """A 5xx from Discord (or its edge): the request was not carried out."""
    return Fault(status, {"message": f"{status}: {HTTPStatus(status).phrase}", "code": 0}, VIA)


def refused(status: int = 400, code: int = 50035, message: str = "Invalid Form Body") -> Fault:
    """Discord says no (e.g. a 400): retrying cannot help."""
    return Fault(status, {"message": message, "code": code}, VIA)


RESET = Fault(None)  #: the connection is reset before the request is carried out
LOST_ANSWER = Fault(None, served=True)  #: carried out, then the connection is reset


# -- validation, as Discord does it ----------------------------------------------------------


def _check_embed(where: str, embed: dict) -> int:
    """Raise for a field over its limit; the embed's size towards the 6000 in total."""
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        _max_len(f"{where}.{key}", embed.get(key), limit)
        total += len(embed.get(key) or "")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise _form_error(f"{where}.fields", "BASE_TYPE_MAX_LENGTH",
                          "Must be 25 or fewer in length.")
    for j, field in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = field.get(key)
            if not isinstance(value, str) or not value:
                raise _form_error(f"{where}.fields.{j}.{key}", "BASE_TYPE_REQUIRED",
                                  "This field is required")
            _max_len(f"{where}.fields.{j}.{key}", value, limit)
            total += len(value)
    return total


def _check_row(where: str, row: dict, seen: set[str]) -> None:
    if row.get("type") != 1:
        raise _form_error(f"{where}.type", "UNION_TYPE_CHOICES",
                          "Top-level components must be action rows")
    children = row.get("components") or []
    if not children or len(children) > 5:
        raise _form_error(f"{where}.components", "BASE_TYPE_BAD_LENGTH",
                          "Must be between 1 and 5 in length.")
    for j, item in enumerate(children):
        here = f"{where}.components.{j}"
        _max_len(f"{here}.label", item.get("label"), 80)
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _form_error(f"{here}.custom_id", "BASE_TYPE_REQUIRED",
                              "This field is required")
        _max_len(f"{here}.custom_id", custom_id, 100)
        if custom_id in seen:
            raise _form_error(f"{here}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                              "Component custom id cannot be duplicated")
        seen.add(custom_id)


def _check_message(message: dict) -> None:
    """Validate a message as it would be after a create or an edit."""
    _max_len("content", message["content"], 2000)
    if len(message["embeds"]) > 10:
        raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    if sum(_check_embed(f"embeds.{i}", e) for i, e in enumerate(message["embeds"])) > 6000:
        raise _form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED",
                          "Embed size exceeds maximum size of 6000")
    if len(message["components"]) > 5:
        raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(message["components"]):
        _check_row(f"components.{i}", row, seen)
    if not (message["content"] or message["embeds"] or message["components"]):
        raise _ApiError(400, 50006, "Cannot send an empty message")


def _check_named(where: str, node: dict) -> None:
    name = node.get("name") or ""
    if not NAME_RE.match(name):
        raise _form_error(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME",
                          f"Command name is invalid: {name!r}")
    if not 1 <= len(node.get("description") or "") <= 100:
        raise _form_error(f"{where}.description", "BASE_TYPE_BAD_LENGTH",
                          "Must be between 1 and 100 in length.")


def _check_commands(commands: Any) -> None:
    if not isinstance(commands, list) or len(commands) > 100:
        raise _form_error("_root", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    names = [c.get("name") for c in commands]
    if len(set(names)) != len(names):
        raise _form_error("_root", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                          "Application command names must be unique")
    for i, command in enumerate(commands):
        _check_named(str(i), command)
        options = command.get("options") or []
        required = [bool(o.get("required")) for o in options]
        if len(options) > 25 or required != sorted(required, reverse=True):
            raise _form_error(f"{i}.options", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                              "At most 25 options, required ones first")
        for j, option in enumerate(options):
            _check_named(f"{i}.options.{j}", option)
            if len(option.get("choices") or []) > 25:
                raise _form_error(f"{i}.options.{j}.choices", "BASE_TYPE_MAX_LENGTH",
                                  "Must be 25 or fewer in length.")


def _typed_options(command: dict, values: dict) -> list[dict]:
    """``values`` as a Discord client sends them, typed by the synced ``command``."""
    registered = {o["name"]: o for o in command.get("options") or []}
    unknown = sorted(set(values) - set(registered))
    missing = [n for n, o in registered.items() if o.get("required") and n not in values]
    if unknown or missing:
        raise ValueError(f"/{command['name']}: unknown options {unknown}, "
                         f"missing required options {missing}")
    options = []
    for name, value in values.items():
        kind = registered[name]["type"]
        choices = [c["value"] for c in registered[name].get("choices") or []]
        if not OPTION_TYPES[kind](value) or (choices and value not in choices):
            raise ValueError(f"option {name!r} (type {kind}, choices {choices}) "
                             f"cannot take {value!r}")
        options.append({"name": name, "type": kind, "value": value})
    return options


def _multipart(content_type: str, body: bytes) -> tuple[bytes, list[dict]]:
    """A multipart request as discord.py sends files: its ``payload_json`` and its files
    as ``{"filename", "data"}``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    payload, files = b"", []
    for part in message.iter_parts():
        data = part.get_payload(decode=True) or b""
        if part.get_param("name", header="content-disposition") == "payload_json":
            payload = data
        elif part.get_filename() is not None:
            files.append({"filename": part.get_filename(), "data": data})
    return payload, files


class _LibraryErrorLog(logging.Handler):
    """Collects ERROR records of the ``discord`` logger into ``fake.library_errors``."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__(logging.ERROR)
        self.fake = fake

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        with self.fake._cond:
            self.fake.library_errors.append(text)
            self.fake._cond.notify_all()


class FakeDiscord:
    """In-process fake of the Discord REST API; use as a context manager (see module doc)."""

    token = "FAKE.discord.bot-token"
    application_id = 1_100_000_000_000_000_001

    def __init__(self) -> None:
        self.bot_user: dict = {
            "id": str(self.application_id), "username": "TestBot", "discriminator": "0",
            "global_name": None, "avatar": None, "bot": True, "public_flags": 0,
        }
        #: ERROR log records of the ``discord`` logger while a client is connected
        self.library_errors: list[str] = []
        self._cond = threading.Condition()
        self._increment = itertools.count()
        self._calls: list[dict] = []
        self._faults: dict[str, deque[Fault]] = {}  # route name -> the next answers
        self._messages: dict[int, dict] = {}  # id -> current payload
        self._interactions: dict[int, dict] = {}  # id -> state
        self._users: dict[int, dict] = {}  # id -> user payload, as the user last appeared
        self._dm_channels: dict[int, int] = {}  # user id -> channel id
        self._nonces: dict[tuple[int, str], int] = {}  # (channel, enforced nonce) -> message
        self._commands: dict[str, dict] = {}  # name -> synced command
        self._attachments: dict[str, bytes] = {}  # id -> bytes a user attached
        #: attachment ids the bot downloaded, in order
        self.downloads: list[str] = []
        webhook = r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., Any]]] = [
            (method, re.compile(f"^/api/v10{pattern}$"), name, handler)
            for method, pattern, name, handler in [
                ("GET", r"/users/@me", "get_me", self._get_me),
                ("GET", r"/oauth2/applications/@me", "application_info", self._app_info),
                ("PUT", r"/applications/(?P<app_id>\d+)/commands", "sync_global_commands",
                 self._sync_commands),
                ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                 "interaction_callback", self._callback),
                ("POST", webhook, "followup", self._followup),
                ("PATCH", f"{webhook}/messages/@original", "edit_original",
                 self._edit_original),
                ("GET", r"/users/(?P<user_id>\d+)", "get_user", self._get_user),
                ("POST", r"/users/@me/channels", "create_dm", self._create_dm),
                ("POST", r"/channels/(?P<channel_id>\d+)/messages", "send_message",
                 self._send_message),
            ]
        ]
        self.server = LocalServer(json_handler(self._answer, "FakeDiscord/1.0"),
                                  name="fake-discord")

    def __enter__(self) -> FakeDiscord:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def base_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to (``connect`` does it)."""
        return f"{self.server.url}/api/v10"

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._increment) & 0xFFF)

    def fail(self, name: str, *faults: Fault) -> None:
        """Answer the next calls of route ``name`` with ``faults``, one each, in order; then
        serve it again. A faulted call is recorded with ``"fault": True`` and the status it
        got (0 for a reset connection)."""
        with self._cond:
            self._faults.setdefault(name, deque()).extend(faults)

    # -- building INTERACTION_CREATE payloads ----------------------------------------------

    def _interaction(self, kind: int, data: dict, user_id: int, user_name: str,
                     message: dict | None = None) -> dict:
        """An interaction from ``user_id`` in their DM with the bot."""
        user = {"id": str(user_id), "username": user_name, "discriminator": "0",
                "global_name": user_name.title(), "avatar": None, "public_flags": 0}
        self._users[user_id] = user
        channel_id = self._dm_channels.setdefault(user_id, self._snowflake())
        interaction_id = self._snowflake()
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.application_id),
            "type": kind, "data": data, "token": f"token-{interaction_id}", "version": 1,
            "channel_id": str(channel_id), "user": user, "locale": "en-US",
            "channel": {"id": str(channel_id), "type": 1, "last_message_id": None,
                        "flags": 0, "recipients": [user]},
            "app_permissions": "0", "entitlements": [], "context": 1,
            "authorizing_integration_owners": {"1": str(user_id)},
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        # Errors discord.py logs from now on are this interaction's: waits for it fail on them.
        self._interactions[interaction_id] = {"payload": copy.deepcopy(payload),
                                              "channel_id": channel_id, "callback": None,
                                              "original": None, "loading": None,
                                              "shown": [],  # ids of messages it made/changed
                                              "errors_before": len(self.library_errors)}
        return payload

    def slash(self, name: str, options: dict | None = None, *, user_id: int,
              user_name: str = "ann") -> dict:
        """An APPLICATION_COMMAND (type 2) payload: ``user_id`` uses ``/name`` in their DM with
        the bot; option types come from the synced command."""
        with self._cond:
            command = self._commands.get(name)
            if command is None:
                raise ValueError(f"command {name!r} is not registered; sync the tree first "
                                 f"(registered: {sorted(self._commands)})")
            data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1}
            if options:
                data["options"] = _typed_options(command, options)
                self._attach(data)
            return self._interaction(2, data, user_id, user_name)

    def _attach(self, data: dict) -> None:
        """Attachment options as Discord sends them: the option's value is an id, the file
        is in ``resolved``, its bytes at its URL."""
        for option in data["options"]:
            if option["type"] != ATTACHMENT:
                continue
            given, attachment_id = option["value"], str(self._snowflake())
            self._attachments[attachment_id] = given["data"]
            url = f"{self.server.url}/attachments/{attachment_id}/{given['filename']}"
            data.setdefault("resolved", {}).setdefault("attachments", {})[attachment_id] = {
                "id": attachment_id, "filename": given["filename"],
                "size": given.get("size", len(given["data"])), "url": url, "proxy_url": url,
                "content_type": given.get("content_type", "text/csv")}
            option["value"] = attachment_id

    def press(self, custom_id: str, message: dict, *, user_id: int,
              user_name: str = "ann") -> dict:
        """A MESSAGE_COMPONENT (type 3) payload: ``user_id`` presses button ``custom_id`` on
        ``message`` (a message the bot sent to them; its current state is used)."""
        with self._cond:
            current = self._messages.get(int(message["id"]))
            if current is None or int(current["channel_id"]) != self._dm_channels.get(user_id):
                raise ValueError(f"user {user_id} cannot see message {message['id']}")
            present = [b.get("custom_id") for row in current["components"]
                       for b in row["components"]]
            if custom_id not in present:
                raise ValueError(f"message {message['id']} has no button {custom_id!r}; "
                                 f"it has {present}")
            data = {"custom_id": custom_id, "component_type": 2}
            return self._interaction(3, data, user_id, user_name, copy.deepcopy(current))

    # -- inspecting what the bot did -------------------------------------------------------

    def calls(self, name: str | None = None, *, interaction: dict | None = None) -> list[dict]:
        """Recorded requests ``{"name", "method", "path", "query", "json", "status",
        "response", "interaction_id", "fault"}`` in order, optionally only ``name`` / for one
        ``interaction``."""
        with self._cond:
            return copy.deepcopy(self._select(name, interaction))

    def _select(self, name: str | None, interaction: dict | None) -> list[dict]:
        wanted = None if interaction is None else int(interaction["id"])
        return [c for c in self._calls if name in (None, c["name"])
                and wanted in (None, c["interaction_id"])]

    def wait_for(self, name: str, count: int = 1, *, interaction: dict | None = None,
                 timeout: float = WAIT) -> list[dict]:
        """Block until ``name`` was called ``count`` times (for ``interaction`` if given).

        Fails as soon as discord.py has logged an error (a handler raised) since
        ``interaction`` was built, or else since the wait began: an error logged before the
        wait starts still counts, so the wait cannot miss it and sit out its ceiling."""
        with self._cond:
            errors_before = self._errors_before(interaction)
            self._cond.wait_for(lambda: len(self._select(name, interaction)) >= count
                                or len(self.library_errors) > errors_before, timeout)
            found = self._select(name, interaction)
            if len(found) >= count:
                return copy.deepcopy(found)
            seen = dict(Counter(c["name"] for c in self._calls))
            if len(self.library_errors) > errors_before:
                raise AssertionError(
                    f"discord.py logged an error while {count} call(s) of {name} were awaited "
                    f"(got {len(found)}; recorded: {seen}): "
                    f"{self.library_errors[errors_before:][-3:]}")
            raise AssertionError(f"timed out after {timeout}s waiting for {count} call(s) of "
                                 f"{name}, got {len(found)}; recorded: {seen}")

    def _errors_before(self, interaction: dict | None) -> int:
        state = None if interaction is None else self._interactions.get(int(interaction["id"]))
        return len(self.library_errors) if state is None else state["errors_before"]

    async def wait(self, name: str, count: int = 1, *, interaction: dict | None = None,
                   timeout: float = WAIT) -> list[dict]:
        """:meth:`wait_for` without blocking the event loop (the bot keeps running)."""
        return await asyncio.to_thread(self.wait_for, name, count, interaction=interaction,
                                       timeout=timeout)

    async def response(self, interaction: dict, *, timeout: float = WAIT) -> dict:
        """Wait for the callback to ``interaction`` (the first that was not a fault); its
        body ``{"type", "data"}``.

        Fails if the fake rejected it (as Discord would have: nothing was shown to the user).
        """
        calls = await self.wait("interaction_callback", interaction=interaction,
                                timeout=timeout)
        while calls[-1]["fault"]:  # a fault is followed by a retry, or by nothing at all
            calls = await self.wait("interaction_callback", len(calls) + 1,
                                    interaction=interaction, timeout=timeout)
        call = next(c for c in calls if not c["fault"])
        if call["status"] >= 400:
            raise AssertionError(f"the callback was rejected: {call['status']} "
                                 f"{call['response']}; body: {call['json']}")
        return call["json"]

    def last_message(self) -> dict:
        """The latest message the bot sent, edits applied."""
        with self._cond:
            if not self._messages:
                raise AssertionError("the bot sent no message")
            return copy.deepcopy(self._messages[max(self._messages)])

    def answer(self, interaction: dict) -> list[dict]:
        """The messages the bot's answer to ``interaction`` made or changed, as they are now
        (a deferred answer's "thinking…" replaced by its first followup), also those whose
        request was carried out but answered by a reset; call it once the bot is done
        (:func:`settle`)."""
        with self._cond:
            state = self._interactions[int(interaction["id"])]
            return [copy.deepcopy(self._messages[i]) for i in dict.fromkeys(state["shown"])]

    def dms(self, user_id: int) -> list[dict]:
        """The messages the bot sent to ``user_id``'s DM channel (not interaction replies),
        oldest first."""
        with self._cond:
            channel = str(self._dm_channels.get(user_id))
            return [copy.deepcopy(m) for _, m in sorted(self._messages.items())
                    if m["channel_id"] == channel and "webhook_id" not in m]

    def commands(self) -> list[dict]:
        """The commands registered by the last sync."""
        with self._cond:
            return copy.deepcopy(list(self._commands.values()))

    # -- request handling ------------------------------------------------------------------

    def _answer(self, method: str, raw_path: str, headers: Any, body: bytes
                ) -> tuple[int | None, Any, dict[str, str]]:
        url = urlsplit(raw_path)
        if method == "GET" and url.path.startswith("/attachments/"):  # the CDN
            attachment_id = url.path.split("/")[2]
            with self._cond:
                found = self._attachments.get(attachment_id)
                if found is not None:
                    self.downloads.append(attachment_id)
            return (200, found, {}) if found is not None else (404, {"message": "404"}, {})
        files = None
        if (headers.get("Content-Type") or "").startswith("multipart/form-data"):
            body, files = _multipart(headers["Content-Type"], body)
        record: dict[str, Any] = {"name": f"unknown {method} {url.path}", "method": method,
                                  "path": url.path, "json": json.loads(body) if body else None,
                                  "files": files,
                                  "query": dict(parse_qsl(url.query)), "status": 404,
                                  "response": {"message": "404: Not Found", "code": 0},
                                  "interaction_id": None, "fault": False}
        with self._cond:
            route = self._route(method, url.path)
            fault = None
            if route is not None:
                name, handler, params = route
                record.update(name=name, interaction_id=self._interaction_id(params))
                fault = self._next_fault(name)
                if fault is None or fault.served:
                    record["status"], record["response"] = self._call(handler, record, params)
            if fault is not None:
                record.update(status=fault.status or 0, response=fault.body, fault=True)
            self._calls.append(copy.deepcopy(record))
            self._cond.notify_all()
        if fault is not None:
            return fault.status, fault.body, fault.headers
        return record["status"], record["response"], VIA

    def _route(self, method: str, path: str) -> tuple[str, Callable[..., Any], dict] | None:
        """The route's name, its handler and the parameters in the path."""
        for route_method, pattern, name, handler in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                return name, handler, match.groupdict()
        return None

    def _next_fault(self, name: str) -> Fault | None:
        waiting = self._faults.get(name)
        return waiting.popleft() if waiting else None

    def _interaction_id(self, params: dict) -> int | None:
        """The interaction a request answers: its token is in the path of callbacks,
        followups and edits of the original response."""
        token = params.get("token")
        return next((i for i, state in self._interactions.items()
                     if token is not None and state["payload"]["token"] == token), None)

    @staticmethod
    def _call(handler: Callable[..., Any], record: dict, params: dict) -> tuple[int, Any]:
        try:
            return 200, handler(record, **params)
        except _ApiError as exc:
            return exc.status, exc.body
        except Exception as exc:  # a bug in the fake: 400, as discord.py retries 5xx
            return 400, {"message": f"FakeDiscord bug: {exc!r}", "code": 0}

    def _get_me(self, record: dict) -> dict:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0}

    def _app_info(self, record: dict) -> dict:
        return {"id": str(self.application_id), "name": self.bot_user["username"],
                "icon": None, "description": "", "summary": "", "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "team": None,
                "owner": {"id": "1000000000000000001", "username": "owner",
                          "discriminator": "0", "global_name": "Owner", "avatar": None,
                          "public_flags": 0},
                "verify_key": "0" * 64, "flags": 0, "bot": self.bot_user}

    def _sync_commands(self, record: dict, app_id: str) -> list:
        if int(app_id) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")
        _check_commands(record["json"])
        previous = self._commands
        self._commands = {c["name"]: {
            "default_member_permissions": None, "nsfw": False, "type": 1, **c,
            "id": previous.get(c["name"], {}).get("id") or str(self._snowflake()),
            "application_id": str(self.application_id), "version": str(self._snowflake()),
        } for c in record["json"]}
        return list(self._commands.values())

    def _message(self, channel_id: int, body: dict, *, webhook: bool = True) -> dict:
        message = {"id": str(self._snowflake()), "channel_id": str(channel_id),
                   "type": 20 if webhook else 0,
                   "content": body.get("content") or "", "author": self.bot_user,
                   "embeds": [{"type": "rich", **e} for e in body.get("embeds") or []],
                   "components": body.get("components") or [], "attachments": [],
                   "mentions": [], "mention_roles": [], "mention_everyone": False,
                   "pinned": False, "tts": False, "timestamp": datetime.now(UTC).isoformat(),
                   "edited_timestamp": None, "flags": int(body.get("flags") or 0) & EPHEMERAL}
        if webhook:  # an interaction's reply comes from the application's webhook
            message.update(webhook_id=str(self.application_id),
                           application_id=str(self.application_id))
        return message

    def _edited(self, message_id: int, body: dict) -> dict:
        if message_id not in self._messages:
            raise _ApiError(404, 10008, "Unknown Message")
        edited = copy.deepcopy(self._messages[message_id])
        for key in ("content", "embeds", "components"):
            if key in body:
                edited[key] = body[key] or ("" if key == "content" else [])
        edited["edited_timestamp"] = datetime.now(UTC).isoformat()
        return edited

    def _acknowledged(self, token: str, app_id: str) -> dict:
        """The state of the interaction a webhook request is for; Discord knows the webhook
        only once the interaction was acknowledged."""
        state = self._interactions.get(self._interaction_id({"token": token}) or 0)
        if state is None or state["callback"] is None or int(app_id) != self.application_id:
            raise _ApiError(404, 10015, "Unknown Webhook")
        return state

    def _callback(self, record: dict, interaction_id: str, token: str) -> dict:
        state = self._interactions.get(int(interaction_id))
        if state is None or state["payload"]["token"] != token:
            raise _ApiError(404, 10062, "Unknown interaction")
        if state["callback"] is not None:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = record["json"] or {}
        kind = body.get("type")
        payload = state["payload"]
        if payload["type"] not in CALLBACK_ALLOWED.get(kind, set()):
            raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                              f"Callback type {kind} is not valid for interaction type "
                              f"{payload['type']} (or not emulated)")
        message = self._respond(state, kind, body.get("data") or {})
        state["callback"] = kind
        result: dict[str, Any] = {"interaction": {"id": interaction_id, "type": payload["type"]},
                                  "resource": {"type": kind}}
        if message is not None:
            result["interaction"].update(
                response_message_id=message["id"], response_message_loading=kind == DEFERRED,
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL))
            if kind != DEFERRED:  # Discord sends the message only for types 4 and 7
                result["resource"]["message"] = copy.deepcopy(message)
        return result

    def _respond(self, state: dict, kind: int, data: dict) -> dict | None:
        """What callback ``kind`` does to the channel: a new message (4), a loading one that
        the first followup replaces (5), the pressed message edited (7) or left for later
        (6); the message, if one was made or changed."""
        pressed = state["payload"].get("message")
        if kind == DEFERRED_UPDATE:
            state["original"] = int(pressed["id"])
            return None
        if kind == DEFERRED:
            message = self._message(state["channel_id"], data)
            message["flags"] |= LOADING
            state["loading"] = int(message["id"])
        else:
            message = (self._message(state["channel_id"], data) if kind == 4
                       else self._edited(int(pressed["id"]), data))
            _check_message(message)
        self._show(state, message)
        state["original"] = int(message["id"])
        return message

    def _followup(self, record: dict, app_id: str, token: str) -> dict:
        state = self._acknowledged(token, app_id)
        body = record["json"] or {}
        if state["loading"] is not None:  # the first followup replaces "thinking…"
            message = self._edited(state["loading"], body)
            message["flags"] &= ~LOADING
            state["loading"] = None
        else:
            message = self._message(state["channel_id"], body)
        _check_message(message)
        self._show(state, message)
        return message

    def _edit_original(self, record: dict, app_id: str, token: str) -> dict:
        state = self._acknowledged(token, app_id)
        message = self._edited(state["original"], record["json"] or {})
        if state["loading"] == state["original"]:
            message["flags"] &= ~LOADING
            state["loading"] = None
        _check_message(message)
        self._show(state, message)
        return message

    def _show(self, state: dict, message: dict) -> None:
        """``message`` as it is now, made or changed by the interaction of ``state``."""
        self._messages[int(message["id"])] = message
        state["shown"].append(int(message["id"]))

    def _get_user(self, record: dict, user_id: str) -> dict:
        name = f"user{user_id}"
        return self._users.get(int(user_id)) or {
            "id": user_id, "username": name, "discriminator": "0", "global_name": name,
            "avatar": None, "public_flags": 0}

    def _create_dm(self, record: dict) -> dict:
        user_id = int((record["json"] or {}).get("recipient_id") or 0)
        user = self._get_user(record, str(user_id))
        channel_id = self._dm_channels.setdefault(user_id, self._snowflake())
        return {"id": str(channel_id), "type": 1, "last_message_id": None, "flags": 0,
                "recipients": [user]}

    def _send_message(self, record: dict, channel_id: str) -> dict:
        if int(channel_id) not in self._dm_channels.values():
            raise _ApiError(404, 10003, "Unknown Channel")
        body = record["json"] or {}
        nonce = (int(channel_id), body.get("nonce")) if body.get("enforce_nonce") else None
        if nonce in self._nonces:  # a repeat of a send Discord took: the same message
            return copy.deepcopy(self._messages[self._nonces[nonce]])
        message = self._message(int(channel_id), body, webhook=False)
        _check_message(message)
        self._messages[int(message["id"])] = message
        if nonce is not None:
            message["nonce"] = body["nonce"]
            self._nonces[nonce] = int(message["id"])
        return message


# -- driving discord.py ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect(client: discord.Client, fake: FakeDiscord) -> AsyncIterator[discord.Client]:
    """Log ``client`` in against ``fake`` and mark it ready (as after the gateway's READY,
    but nothing is cached); on exit let handlers finish, close the client and restore
    ``discord.http.Route.BASE``."""
    previous_base = Route.BASE
    Route.BASE = fake.base_url
    errors = _LibraryErrorLog(fake)
    logger = logging.getLogger("discord")
    logger.addHandler(errors)
    try:
        await client.login(fake.token)  # runs setup_hook
        client._handle_ready()
        client.dispatch("ready")
        await settle(client)
        yield client
        await settle(client)
    finally:
        try:
            await client.close()
        finally:
            logger.removeHandler(errors)
            Route.BASE = previous_base


async def dispatch(client: discord.Client, payload: dict) -> None:
    """Deliver an ``INTERACTION_CREATE`` payload like the gateway does, once the handlers of
    earlier interactions are done (the fake records a reply before discord.py has processed
    it, e.g. registered the ``View`` of the message it just sent)."""
    await settle(client)
    client._connection.parsers["INTERACTION_CREATE"](copy.deepcopy(payload))


class _Asyncio:
    """The ``asyncio`` module as :func:`library_waits` shows it to discord.py."""

    def __init__(self, waits: list[float]) -> None:
        self._waits = waits

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self._waits.append(delay)
        await asyncio.sleep(0)
        return result


@contextlib.contextmanager
def library_waits() -> Iterator[list[float]]:
    """discord.py's own waits before it retries a request, recorded instead of slept.

    discord.py waits ``1 + 2 * attempt`` seconds after a 5xx (up to 16 s for five tries) and
    a 429's ``retry_after``. Inside its two request modules (``discord.http``,
    ``discord.webhook.async_``) ``asyncio.sleep`` records the delay and only yields: the
    retries happen as they would, the test checks the delays discord.py chose instead of
    sitting them out. Nothing else (the bot, aiohttp, the event loop) is touched."""
    waits: list[float] = []
    modules = (discord.http, discord.webhook.async_)
    originals = [module.asyncio for module in modules]
    for module in modules:
        module.asyncio = _Asyncio(waits)  # type: ignore[assignment]
    try:
        yield waits
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.asyncio = original


async def settle(client: discord.Client, timeout: float = WAIT) -> None:
    """Wait until discord.py's tasks for dispatched interactions and events are done."""
    current = asyncio.current_task()
    deadline = time.monotonic() + timeout
    while pending := [t for t in asyncio.all_tasks() if t is not current and not t.done()
                      and t.get_name().startswith(LIBRARY_TASK_PREFIXES)]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"discord.py handlers still running after {timeout}s: "
                                 f"{sorted(t.get_name() for t in pending)}")
        await asyncio.wait(pending, timeout=remaining)


__all__ = ["LOST_ANSWER", "RESET", "FakeDiscord", "Fault", "connect", "dispatch",
           "library_waits", "rate_limited", "refused", "server_error", "settle"]
