"""A fake Discord REST API for end-to-end tests with the real discord.py (no discord.py mocks).

Covers what a bot needs for application (slash) commands, autocomplete, buttons and DMs::

    with FakeDiscord() as fake:
        client = discord.Client(intents=discord.Intents.none())
        tree = discord.app_commands.CommandTree(client)
        ...  # define commands, add_dynamic_items(...)

        async def scenario() -> None:
            async with connect(client, fake):        # login against the fake, not Discord
                await tree.sync()                    # the fake records the commands
                hi = fake.slash("hello", {"name": "Ann"}, user_id=1001)
                await dispatch(client, hi)           # INTERACTION_CREATE, as from the gateway
                body = await fake.response(hi)       # the type-4/5/7/8 callback the bot sent
                assert body["data"]["content"] == "Hi Ann"

        asyncio.run(scenario())

The server listens on ``127.0.0.1`` (random port) and answers the Discord REST v10 routes
below under :attr:`FakeDiscord.base_url`. :func:`connect` points discord.py at it by setting
the class attribute ``discord.http.Route.BASE`` (restored on exit), logs the client in
(``GET /users/@me`` + ``GET /oauth2/applications/@me``, which also run ``setup_hook``), marks
it ready and closes it on exit. :func:`dispatch` hands an ``INTERACTION_CREATE`` payload to the
same parser the gateway uses (``client._connection.parsers["INTERACTION_CREATE"]``, i.e.
``ConnectionState.parse_interaction_create``), so ``CommandTree``, views and
``DynamicItem``s dispatch exactly as in production. :func:`settle` waits until the library's
handler tasks for dispatched interactions have finished; ``dispatch`` calls it first (the
user's next action comes after the bot is done with the previous one), because the fake
records a reply before discord.py has processed the HTTP response, e.g. registered the
``View`` of the message it just sent.

Routes, with the name each recorded call gets in :meth:`FakeDiscord.calls`:

* ``GET /users/@me`` get_me (login) -- ``GET /oauth2/applications/@me`` application_info
* ``GET /users/{id}`` get_user -- ``POST /users/@me/channels`` create_dm
* ``PUT``/``GET /applications/{app}/commands`` sync_global_commands / get_global_commands
* ``PUT``/``GET /applications/{app}/guilds/{guild}/commands`` sync_guild_commands /
  get_guild_commands
* ``POST /interactions/{id}/{token}/callback`` interaction_callback
* ``POST /webhooks/{app}/{token}`` followup
* ``GET``/``PATCH``/``DELETE /webhooks/{app}/{token}/messages/@original`` get_original /
  edit_original / delete_original; ``.../messages/{id}`` get_followup / edit_followup /
  delete_followup
* ``GET /channels/{id}`` get_channel -- ``POST /channels/{id}/messages`` send_message --
  ``GET``/``PATCH``/``DELETE /channels/{id}/messages/{id}`` get_message / edit_message /
  delete_message -- ``POST /channels/{id}/typing`` typing
* anything else: 404, recorded as ``"unknown METHOD /path"``

Request bodies are JSON, or ``multipart/form-data`` when files are attached (discord.py then
sends the JSON as a ``payload_json`` part and the files as ``files[n]``); both are recorded as
``call["json"]`` plus ``call["files"]``.

Deliberately realistic details:

* Snowflake ids are strings in JSON and encode the creation time; messages come back as full
  message objects (author = the bot user, ``interaction_metadata``, ``webhook_id`` ...), and
  sent components get numeric ``id``s like Discord assigns them.
* The interaction callback honours ``?with_response=true`` (discord.py >= 2.5 always sends it)
  and returns an ``InteractionCallbackResponse`` (``interaction`` + ``resource.message``);
  without it, 204. A second callback fails with 400/40060 "Interaction has already been
  acknowledged", an unknown interaction with 404/10062, a callback type that does not fit the
  interaction type with 400; followups/edits before the callback fail with 404/10015.
* Type 5 (defer with thinking) creates a "loading" message (flag 128); the first followup after
  it edits that message instead of creating one and keeps the defer's ephemeral flag, as the
  Create Followup Message docs describe. Type 6 and 7 make the component's message the
  ``@original``; type 7 edits it.
* Messages are validated like Discord does: empty messages (400/50006), content > 2000,
  > 10 embeds or embed limits (title 256, description 4096, 25 fields of 256/1024, 6000 total),
  > 5 action rows, > 5 buttons per row, custom_id > 100 or duplicated, label > 80 (400/50035).
  Autocomplete results: at most 25 choices. Command sync: name/description/option limits.
* Bot-token auth on the non-webhook routes (a wrong token gets 401, so ``login`` raises
  ``LoginFailure``); webhook and interaction routes are authenticated by their token only.
* The builders refuse interactions a Discord client could not send: unknown commands (unless
  :attr:`FakeDiscord.require_registered_commands` is False), unknown or missing required
  options, values outside the registered choices, autocomplete on an option without
  ``autocomplete``, presses of a button that is not (or no longer) on the message or disabled.
* ``closed_dms``: user ids whose DMs are closed; sending them a message fails with
  403/50007 "Cannot send messages to this user" (discord.Forbidden).
* Bugs in the fake answer 400 (never 5xx, which discord.py retries with sleeps) and are listed in
  :attr:`FakeDiscord.errors`. Errors the library logs while the client is connected (exceptions
  in commands, views, dynamic items) are collected in :attr:`FakeDiscord.library_errors`; waits
  fail fast with them instead of running into the timeout.

NOT covered (the README quotes this list):

* The websocket gateway: no connecting, identify, heartbeats, resuming/reconnects, sharding,
  intents or presence; the READY payload is not sent (:func:`connect` only sets the client
  user, application id and the ready flag), so guilds, channels and members are not cached and
  gateway events other than ``INTERACTION_CREATE`` (messages, reactions, member updates ...)
  are never delivered. ``client.start()``/``client.run()`` cannot be used.
* Rate limits: no ``X-RateLimit-*`` headers and no 429s, so bucket handling is untested.
* Option types user/channel/role/mentionable/attachment (need ``resolved`` data), context menus,
  modals (callback type 9 is accepted and recorded, but there is no modal-submit builder),
  select menus beyond passing ``values`` to :meth:`FakeDiscord.press`, components v2 layouts
  (only relayed, not validated), polls, stickers, threads, message references/replies, allowed
  mentions (recorded, not applied), permissions checks and localisation.
* Interaction tokens never expire (Discord: 3 s to answer, 15 min for followups) and ephemeral
  messages are visible to everybody in :meth:`FakeDiscord.messages` (check ``flags & 64``).
* Attachment URLs are not served (no CDN).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import discord
from discord.http import Route

DISCORD_EPOCH_MS = 1_420_070_400_000
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15
#: flags a bot may set on a message (others are ignored, like Discord does)
SETTABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2

# A plain member: view channel, send messages, embed links, attach files, read history,
# add reactions, external emojis, use application commands, send in threads.
MEMBER_PERMISSIONS = (1 << 10 | 1 << 11 | 1 << 14 | 1 << 15 | 1 << 16 | 1 << 6 | 1 << 18
                      | 1 << 31 | 1 << 38)
BOT_PERMISSIONS = MEMBER_PERMISSIONS

# callback type -> interaction types it may answer
CALLBACK_ALLOWED = {1: {1}, 4: {2, 3, 5}, 5: {2, 3, 5}, 6: {3, 5}, 7: {3, 5}, 8: {4}, 9: {2, 3},
                    12: {2, 3}}
NAME_RE = re.compile(r"^[-_\w]{1,32}$")
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


def _now() -> str:
    return datetime.now(UTC).isoformat()


# -- request parsing -------------------------------------------------------------------------


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], list[dict]]:
    """Split multipart/form-data into text fields and uploaded files."""
    header = EmailMessage()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise _ApiError(400, 50035, "multipart body without boundary")
    fields: dict[str, Any] = {}
    files: list[dict] = []
    for chunk in (b"\r\n" + body).split(b"\r\n--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):  # closing delimiter
            break
        head, _, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        part = message_from_bytes(head + b"\r\n\r\n", policy=HTTP)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is None:
            fields[name] = value.decode(part.get_content_charset() or "utf-8")
        else:
            files.append({"name": name, "filename": filename,
                          "content_type": part.get_content_type(), "data": value})
    return fields, files


def _parse_body(content_type: str, body: bytes) -> tuple[Any, list[dict]]:
    mime = content_type.split(";")[0].strip().lower()
    if mime == "multipart/form-data":
        fields, files = _parse_multipart(content_type, body)
        payload = json.loads(fields.pop("payload_json", "{}"))
        if fields and isinstance(payload, dict):
            payload.update(fields)
        return payload, files
    if not body:
        return None, []
    return json.loads(body), []


# -- message validation ----------------------------------------------------------------------


def _walk_components(components: list[dict]) -> Iterator[dict]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from _walk_components([component[key]])


def _check_embeds(embeds: list[dict]) -> None:
    if len(embeds) > 10:
        raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            _max_len(f"embeds.{i}.{key}", embed.get(key), limit)
            total += len(embed.get(key) or "")
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = (embed.get(key) or {}).get(sub)
            _max_len(f"embeds.{i}.{key}.{sub}", text, limit)
            total += len(text or "")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise _form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH",
                              "Must be 25 or fewer in length.")
        for j, field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = field.get(key)
                if not isinstance(value, str) or not value:
                    raise _form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED",
                                      "This field is required")
                _max_len(f"embeds.{i}.fields.{j}.{key}", value, limit)
                total += len(value)
    if total > 6000:
        raise _form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED",
                          "Embed size exceeds maximum size of 6000")


def _check_components(components: list[dict], flags: int) -> None:
    if flags & COMPONENTS_V2:
        return  # layouts are relayed, not validated
    if len(components) > 5:
        raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for i, row in enumerate(components):
        if row.get("type") != 1:
            raise _form_error(f"components.{i}.type", "UNION_TYPE_CHOICES",
                              "Top-level components must be action rows")
        children = row.get("components") or []
        if not children or len(children) > 5:
            raise _form_error(f"components.{i}.components", "BASE_TYPE_BAD_LENGTH",
                              "Must be between 1 and 5 in length.")
        for j, item in enumerate(children):
            where = f"components.{i}.components.{j}"
            _max_len(f"{where}.label", item.get("label"), 80)
            custom_id = item.get("custom_id")
            if item.get("type") == 2 and item.get("style") in (5, 6):
                continue  # link and premium buttons have no custom_id
            if not isinstance(custom_id, str) or not custom_id:
                raise _form_error(f"{where}.custom_id", "BASE_TYPE_REQUIRED",
                                  "This field is required")
            _max_len(f"{where}.custom_id", custom_id, 100)
            if custom_id in seen:
                raise _form_error(f"{where}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED",
                                  "Component custom id cannot be duplicated")
            seen.add(custom_id)
            if len(item.get("options") or []) > 25:
                raise _form_error(f"{where}.options", "BASE_TYPE_MAX_LENGTH",
                                  "Must be 25 or fewer in length.")


def _check_message(message: dict) -> None:
    """Validate a message as it would be after a create or an edit."""
    _max_len("content", message.get("content"), 2000)
    _check_embeds(message.get("embeds") or [])
    _check_components(message.get("components") or [], int(message.get("flags") or 0))
    if not (message.get("content") or message.get("embeds") or message.get("components")
            or message.get("attachments") or message.get("poll") or message.get("sticker_items")
            or int(message.get("flags") or 0) & LOADING):
        raise _ApiError(400, 50006, "Cannot send an empty message")


def _check_commands(commands: Any) -> None:
    if not isinstance(commands, list):
        raise _form_error("_root", "ARRAY_TYPE_CONVERT", "Must be an array.")
    if len(commands) > 100:
        raise _ApiError(400, 30032, "Maximum number of application commands reached (100)")
    names: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = command.get("type", 1)
        name = command.get("name") or ""
        if (kind, name) in names:
            raise _form_error(f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                              f"Application command names must be unique: {name}")
        names.add((kind, name))
        if kind == 1:
            _check_command_level(f"{i}", command, depth=0)


def _check_command_level(where: str, node: dict, *, depth: int) -> None:
    name = node.get("name") or ""
    if not NAME_RE.match(name) or name != name.lower():
        raise _form_error(f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME",
                          f"Command name is invalid: {name!r}")
    description = node.get("description") or ""
    if not 1 <= len(description) <= 100:
        raise _form_error(f"{where}.description", "BASE_TYPE_BAD_LENGTH",
                          "Must be between 1 and 100 in length.")
    options = node.get("options") or []
    if len(options) > 25:
        raise _form_error(f"{where}.options", "BASE_TYPE_MAX_LENGTH",
                          "Must be 25 or fewer in length.")
    optional_seen = False
    for j, option in enumerate(options):
        here = f"{where}.options.{j}"
        if option.get("type") in (1, 2):
            if depth >= 2 or (option["type"] == 2 and depth >= 1):
                raise _form_error(f"{here}.type", "APPLICATION_COMMAND_TOO_DEEP",
                                  "Sub-command groups can only be nested once")
            _check_command_level(here, option, depth=depth + 1)
            continue
        _check_command_level(here, {**option, "options": []}, depth=depth)
        if option.get("required"):
            if optional_seen:
                raise _form_error(f"{here}.required",
                                  "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                  "Required options must be placed before non-required options")
        else:
            optional_seen = True
        if len(option.get("choices") or []) > 25:
            raise _form_error(f"{here}.choices", "BASE_TYPE_MAX_LENGTH",
                              "Must be 25 or fewer in length.")


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, str):
        return 3
    raise ValueError(f"cannot infer a Discord option type for {value!r}; pass option dicts")


def _check_option_value(name: str, kind: int, value: Any) -> None:
    ok = {3: isinstance(value, str), 4: isinstance(value, int) and not isinstance(value, bool),
          5: isinstance(value, bool),
          10: isinstance(value, int | float) and not isinstance(value, bool)}.get(kind)
    if ok is None:
        raise ValueError(f"option {name!r} has type {kind}, which FakeDiscord cannot build "
                         "(needs resolved data); pass a list of explicit option dicts")
    if not ok:
        raise ValueError(f"option {name!r} (type {kind}) cannot take {value!r}")


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
    #: refuse to build interactions for commands that were never synced (Discord would not
    #: show them to the user)
    require_registered_commands = True

    def __init__(self) -> None:
        self.bot_user: dict = {
            "id": str(self.application_id), "username": "TestBot", "discriminator": "0",
            "global_name": None, "avatar": None, "bot": True, "public_flags": 0,
        }
        self.owner: dict = {"id": "1000000000000000001", "username": "owner",
                            "discriminator": "0", "global_name": "Owner", "avatar": None,
                            "public_flags": 0}
        #: user ids whose DMs are closed: sending to them fails with 403/50007
        self.closed_dms: set[int] = set()
        #: exceptions raised while handling requests (bugs in the fake), for debugging
        self.errors: list[str] = []
        #: ERROR log records of the ``discord`` logger while a client is connected
        self.library_errors: list[str] = []
        self._cond = threading.Condition()
        self._increment = itertools.count()
        self._component_ids = itertools.count(1)
        self._calls: list[dict] = []
        self._users: dict[int, dict] = {}
        self._channels: dict[int, dict] = {}  # id -> {"payload", "guild_id", "recipient"}
        self._dm_by_user: dict[int, int] = {}
        self._default_channel: dict[int, int] = {}  # guild id -> channel id
        self._messages: dict[int, dict] = {}  # id -> current payload
        self._deleted: set[int] = set()
        self._sent: list[dict] = []  # snapshots as created
        self._interactions: dict[int, dict] = {}  # id -> state
        self._by_token: dict[str, int] = {}
        self._commands: dict[int | None, dict[str, dict]] = {}  # guild id/None -> name -> cmd
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., Any], bool]] = [
            (method, re.compile(f"^{pattern}$"), name, handler, auth)
            for method, pattern, name, handler, auth in [
                ("GET", r"/users/@me", "get_me", self._get_me, True),
                ("GET", r"/oauth2/applications/@me", "application_info", self._app_info, True),
                ("POST", r"/users/@me/channels", "create_dm", self._create_dm, True),
                ("GET", r"/users/(?P<user_id>\d+)", "get_user", self._get_user, True),
                ("PUT", r"/applications/(?P<app_id>\d+)/commands", "sync_global_commands",
                 self._sync_commands, True),
                ("GET", r"/applications/(?P<app_id>\d+)/commands", "get_global_commands",
                 self._get_commands, True),
                ("PUT", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
                 "sync_guild_commands", self._sync_commands, True),
                ("GET", r"/applications/(?P<app_id>\d+)/guilds/(?P<guild_id>\d+)/commands",
                 "get_guild_commands", self._get_commands, True),
                ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                 "interaction_callback", self._callback, False),
                ("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", "followup",
                 self._followup, False),
                ("GET", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                 "get_original", self._get_webhook_message, False),
                ("PATCH", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                 "edit_original", self._edit_webhook_message, False),
                ("DELETE", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/@original",
                 "delete_original", self._delete_webhook_message, False),
                ("GET", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                 "get_followup", self._get_webhook_message, False),
                ("PATCH",
                 r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                 "edit_followup", self._edit_webhook_message, False),
                ("DELETE",
                 r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>\d+)",
                 "delete_followup", self._delete_webhook_message, False),
                ("GET", r"/channels/(?P<channel_id>\d+)", "get_channel", self._get_channel, True),
                ("POST", r"/channels/(?P<channel_id>\d+)/messages", "send_message",
                 self._send_message, True),
                ("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
                 "get_message", self._get_message, True),
                ("PATCH", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
                 "edit_message", self._edit_message, True),
                ("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)",
                 "delete_message", self._delete_message, True),
                ("POST", r"/channels/(?P<channel_id>\d+)/typing", "typing",
                 lambda **_: None, True),
            ]
        ]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-discord")

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> FakeDiscord:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to (``connect`` does it)."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    # -- ids, users, channels --------------------------------------------------------------

    def _snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._increment) & 0xFFF)

    def _user(self, user_id: int, user_name: str | None = None) -> dict:
        user = self._users.get(user_id)
        if user is None or (user_name is not None and user["username"] != user_name):
            name = user_name or f"user{user_id}"
            user = {"id": str(user_id), "username": name, "discriminator": "0",
                    "global_name": name.title(), "avatar": None, "public_flags": 0}
            self._users[user_id] = user
        return user

    def _dm_channel(self, user_id: int) -> int:
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel_id = self._snowflake()
            self._dm_by_user[user_id] = channel_id
            self._channels[channel_id] = {"guild_id": None, "recipient": user_id,
                                          "name": None}
        return channel_id

    def add_guild_channel(self, guild_id: int, channel_id: int | None = None,
                          name: str = "general") -> int:
        """Make a guild text channel known (the first one is the guild's default channel)."""
        with self._cond:
            channel_id = channel_id or self._snowflake()
            info = self._channels.get(channel_id)
            if info is not None and info["guild_id"] != guild_id:
                raise ValueError(f"channel {channel_id} is not in guild {guild_id}")
            self._channels[channel_id] = {"guild_id": guild_id, "recipient": None, "name": name}
            self._default_channel.setdefault(guild_id, channel_id)
            return channel_id

    def _channel_payload(self, channel_id: int) -> dict:
        info = self._channels[channel_id]
        last = max((m for m, p in self._messages.items()
                    if int(p["channel_id"]) == channel_id and m not in self._deleted),
                   default=None)
        last_id = None if last is None else str(last)
        if info["guild_id"] is None:
            return {"id": str(channel_id), "type": 1, "last_message_id": last_id, "flags": 0,
                    "recipients": [copy.deepcopy(self._user(info["recipient"]))]}
        return {"id": str(channel_id), "type": 0, "guild_id": str(info["guild_id"]),
                "name": info["name"], "position": 0, "permission_overwrites": [],
                "nsfw": False, "parent_id": None, "topic": None, "last_message_id": last_id,
                "rate_limit_per_user": 0, "flags": 0}

    def dm_channel_id(self, user_id: int) -> int | None:
        """The id of the bot's DM channel with ``user_id`` (None if there is none yet)."""
        with self._cond:
            return self._dm_by_user.get(user_id)

    # -- building INTERACTION_CREATE payloads ------------------------------------------------

    def _interaction(self, kind: int, data: dict, *, user_id: int, user_name: str,
                     guild_id: int | None, channel_id: int | None, locale: str,
                     permissions: int | None, message: dict | None = None) -> dict:
        user = copy.deepcopy(self._user(user_id, user_name))
        if guild_id is None:
            if channel_id is not None and self._channels.get(channel_id, {}).get("guild_id"):
                raise ValueError(f"channel {channel_id} is a guild channel: pass guild_id")
            channel_id = channel_id or self._dm_channel(user_id)
            if channel_id not in self._channels:
                raise ValueError(f"unknown DM channel {channel_id}")
            if self._channels[channel_id]["recipient"] != user_id:
                raise ValueError(f"user {user_id} is not in DM channel {channel_id}")
        else:
            channel_id = channel_id or self._default_channel.get(guild_id)
            if channel_id is None or channel_id not in self._channels:
                channel_id = self.add_guild_channel(guild_id, channel_id)
        channel = self._channel_payload(channel_id)
        interaction_id = self._snowflake()
        token = f"aW50ZXJhY3Rpb246{interaction_id}:{secrets.token_urlsafe(48)}"
        payload: dict[str, Any] = {
            "id": str(interaction_id), "application_id": str(self.application_id),
            "type": kind, "data": data, "token": token, "version": 1,
            "channel_id": str(channel_id), "channel": channel,
            "app_permissions": str(BOT_PERMISSIONS), "locale": locale,
            "entitlements": [], "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild_id or 0)},
            "context": 0 if guild_id else 1, "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            channel["permissions"] = str(BOT_PERMISSIONS)
            payload["guild_id"] = str(guild_id)
            payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = {
                "user": user, "roles": [], "nick": None, "avatar": None, "banner": None,
                "joined_at": "2024-01-01T00:00:00+00:00", "premium_since": None,
                "deaf": False, "mute": False, "flags": 0, "pending": False,
                "permissions": str(MEMBER_PERMISSIONS if permissions is None else permissions),
                "communication_disabled_until": None,
            }
        else:
            payload["user"] = user
        if message is not None:
            payload["message"] = message
        self._interactions[interaction_id] = {
            "payload": copy.deepcopy(payload), "token": token, "callback": None,
            "original": None, "loading": False, "messages": set(), "user_id": user_id,
            "guild_id": guild_id, "channel_id": channel_id,
        }
        self._by_token[token] = interaction_id
        return copy.deepcopy(payload)

    def _find_command(self, name: str, guild_id: int | None) -> tuple[dict | None, int | None]:
        if guild_id is not None and name in self._commands.get(guild_id, {}):
            return self._commands[guild_id][name], guild_id
        if name in self._commands.get(None, {}):
            return self._commands[None][name], None
        if self.require_registered_commands:
            known = sorted({n for cmds in self._commands.values() for n in cmds})
            raise ValueError(f"command {name!r} is not registered for guild {guild_id} "
                             f"(registered: {known}); sync the CommandTree first or set "
                             "require_registered_commands = False")
        return None, None

    def _options(self, path: list[str], values: dict | list | None,
                 registered: list[dict] | None, focused: str | None) -> list[dict]:
        if path:  # descend into a sub-command (group)
            sub = path[0]
            reg = None
            if registered is not None:
                reg = next((o for o in registered if o["name"] == sub), None)
                if reg is None or reg.get("type") not in (1, 2):
                    raise ValueError(f"no sub-command {sub!r}")
            kind = reg["type"] if reg else (1 if len(path) == 1 else 2)
            inner = None if reg is None else reg.get("options") or []
            return [{"type": kind, "name": sub,
                     "options": self._options(path[1:], values, inner, focused)}]
        if isinstance(values, list):
            return copy.deepcopy(values)
        values = dict(values or {})
        if focused is not None:
            values.setdefault(focused, "")
        by_name = {o["name"]: o for o in registered or []}
        result = []
        for name, value in values.items():
            reg = by_name.get(name)
            if registered is not None and reg is None:
                raise ValueError(f"unknown option {name!r}; options: {sorted(by_name)}")
            if name == focused:
                if reg is not None and not reg.get("autocomplete"):
                    raise ValueError(f"option {name!r} has no autocomplete")
                kind = reg["type"] if reg else 3
                result.append({"name": name, "type": kind, "value": str(value),
                               "focused": True})
                continue
            kind = reg["type"] if reg else _infer_option_type(value)
            _check_option_value(name, kind, value)
            choices = [c["value"] for c in (reg or {}).get("choices") or []]
            if choices and value not in choices:
                raise ValueError(f"option {name!r} must be one of {choices}, not {value!r}")
            result.append({"name": name, "type": kind, "value": value})
        if focused is None:
            missing = [o["name"] for o in registered or []
                       if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"missing required options {missing}")
        return result

    def _command_data(self, name: str, options: dict | list | None, guild_id: int | None,
                      focused: str | None) -> dict:
        top, *path = name.split()
        command, command_guild = self._find_command(top, guild_id)
        data: dict[str, Any] = {"id": command["id"] if command else str(self._snowflake()),
                                "name": top, "type": 1}
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        registered = None if command is None else command.get("options") or []
        built = self._options(path, options, registered, focused)
        if built:
            data["options"] = built
        return data

    def slash(self, name: str, options: dict | list | None = None, *, user_id: int,
              guild_id: int | None = None, channel_id: int | None = None,
              user_name: str = "ann", locale: str = "en-US",
              permissions: int | None = None) -> dict:
        """An APPLICATION_COMMAND (type 2) ``INTERACTION_CREATE`` payload.

        ``name`` may name a sub-command ("group sub"); ``options`` maps option names to
        values (types come from the synced command, else from the Python type), or is a list
        of explicit option dicts. Without ``guild_id`` the command is used in the user's DM
        with the bot; with it, in ``channel_id`` (default: the guild's first channel).
        """
        with self._cond:
            data = self._command_data(name, options, guild_id, None)
            return self._interaction(2, data, user_id=user_id, user_name=user_name,
                                     guild_id=guild_id, channel_id=channel_id, locale=locale,
                                     permissions=permissions)

    def autocomplete(self, name: str, options: dict | list | None, focused: str, *,
                     user_id: int, guild_id: int | None = None, channel_id: int | None = None,
                     user_name: str = "ann", locale: str = "en-US",
                     permissions: int | None = None) -> dict:
        """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) payload; ``focused`` names the option
        being typed (its value is sent as the typed string, as Discord does)."""
        with self._cond:
            data = self._command_data(name, options, guild_id, focused)
            return self._interaction(4, data, user_id=user_id, user_name=user_name,
                                     guild_id=guild_id, channel_id=channel_id, locale=locale,
                                     permissions=permissions)

    def press(self, custom_id: str, message: dict, *, user_id: int, user_name: str = "ann",
              values: list[str] | None = None, locale: str = "en-US",
              permissions: int | None = None) -> dict:
        """A MESSAGE_COMPONENT (type 3) payload: ``user_id`` presses ``custom_id`` on
        ``message`` (a message the bot sent; its current state is used). Pass ``values`` for
        a select menu."""
        with self._cond:
            message_id = int(message["id"])
            current = self._messages.get(message_id)
            if current is None or message_id in self._deleted:
                raise ValueError(f"message {message_id} does not exist (deleted?)")
            component = next((c for c in _walk_components(current.get("components") or [])
                              if c.get("custom_id") == custom_id), None)
            if component is None:
                present = [c["custom_id"] for c in _walk_components(current.get("components")
                                                                    or []) if "custom_id" in c]
                raise ValueError(f"message {message_id} has no component {custom_id!r}; "
                                 f"it has {present}")
            if component.get("disabled"):
                raise ValueError(f"component {custom_id!r} is disabled")
            data: dict[str, Any] = {"custom_id": custom_id,
                                    "component_type": component["type"]}
            if values is not None or component["type"] != 2:
                data["values"] = list(values or [])
            channel_id = int(current["channel_id"])
            return self._interaction(3, data, user_id=user_id, user_name=user_name,
                                     guild_id=self._channels[channel_id]["guild_id"],
                                     channel_id=channel_id, locale=locale,
                                     permissions=permissions, message=copy.deepcopy(current))

    # -- inspecting what the bot did -------------------------------------------------------

    def calls(self, name: str | None = None, *, interaction: dict | None = None) -> list[dict]:
        """Recorded requests in order, optionally only ``name`` / for one ``interaction``.

        Each is ``{"name", "method", "path", "query", "json", "files", "content_type",
        "status", "response", "interaction_id"}``; ``json`` is the parsed body (for multipart
        requests the ``payload_json`` part), ``files`` the uploaded files
        (``{"name", "filename", "content_type", "data"}``), ``response`` what the fake
        answered.
        """
        with self._cond:
            return copy.deepcopy(self._select(name, interaction))

    def _select(self, name: str | None, interaction: dict | None) -> list[dict]:
        wanted = None if interaction is None else int(interaction["id"])
        return [c for c in self._calls if (name is None or c["name"] == name)
                and (wanted is None or c["interaction_id"] == wanted)]

    def wait_for(self, name: str, count: int = 1, *, interaction: dict | None = None,
                 timeout: float = 5.0, fail_on_library_errors: bool = True) -> list[dict]:
        """Block until ``name`` was called ``count`` times (for ``interaction`` if given).

        Fails early when discord.py logs an error meanwhile (a handler raised), unless
        ``fail_on_library_errors`` is False.
        """
        with self._cond:
            errors_before = len(self.library_errors)

            def done() -> bool:
                return (len(self._select(name, interaction)) >= count
                        or (fail_on_library_errors and len(self.library_errors) > errors_before))

            finished = self._cond.wait_for(done, timeout)
            got = len(self._select(name, interaction))
            if got >= count:
                return copy.deepcopy(self._select(name, interaction))
            seen = Counter(c["name"] for c in self._calls)
            recent = [(c["name"], c["status"], c["json"]) for c in self._calls[-5:]]
            why = ("discord.py logged an error" if finished
                   else f"timed out after {timeout}s")
            raise AssertionError(
                f"{why} waiting for {count} call(s) of {name}"
                + (f" for interaction {interaction['id']}" if interaction else "")
                + f", got {got}; recorded: {dict(seen)}; last calls: {recent}"
                + (f"; library errors: {self.library_errors[-3:]}"
                   if self.library_errors else "")
                + (f"; fake errors: {self.errors}" if self.errors else ""))

    async def wait(self, name: str, count: int = 1, *, interaction: dict | None = None,
                   timeout: float = 5.0, fail_on_library_errors: bool = True) -> list[dict]:
        """:meth:`wait_for` without blocking the event loop (the bot keeps running)."""
        return await asyncio.to_thread(self.wait_for, name, count, interaction=interaction,
                                       timeout=timeout,
                                       fail_on_library_errors=fail_on_library_errors)

    async def response(self, interaction: dict, *, timeout: float = 5.0) -> dict:
        """Wait for the initial callback to ``interaction``; its body ``{"type", "data"}``.

        Fails if the fake rejected it (as Discord would have: nothing was shown to the user).
        """
        calls = await self.wait("interaction_callback", interaction=interaction,
                                timeout=timeout)
        accepted = [c for c in calls if c["status"] < 400]
        if not accepted:
            raise AssertionError(f"the callback was rejected: {calls[0]['status']} "
                                 f"{calls[0]['response']}; body: {calls[0]['json']}")
        return accepted[0]["json"]

    def message(self, message_id: int | str) -> dict:
        """A message's current state (edits applied)."""
        with self._cond:
            message = self._messages.get(int(message_id))
            if message is None or int(message_id) in self._deleted:
                raise KeyError(f"no message {message_id}")
            return copy.deepcopy(message)

    def messages(self, channel_id: int | None = None) -> list[dict]:
        """Current (not deleted) messages, oldest first, optionally in one channel only."""
        with self._cond:
            return copy.deepcopy([m for i, m in sorted(self._messages.items())
                                  if i not in self._deleted and
                                  (channel_id is None or int(m["channel_id"]) == channel_id)])

    def last_message(self, channel_id: int | None = None) -> dict:
        """The latest message (in ``channel_id``), edits applied."""
        found = self.messages(channel_id)
        if not found:
            raise AssertionError(f"no messages (channel {channel_id}); "
                                 f"calls: {[c['name'] for c in self.calls()]}")
        return found[-1]

    def dm_messages(self, user_id: int) -> list[dict]:
        """Messages in the bot's DM channel with ``user_id``."""
        channel_id = self.dm_channel_id(user_id)
        return [] if channel_id is None else self.messages(channel_id)

    def sent(self) -> list[dict]:
        """Every message as it was first created (edits not applied, deleted ones included)."""
        with self._cond:
            return copy.deepcopy(self._sent)

    def commands(self, guild_id: int | None = None) -> list[dict]:
        """The commands registered by the last sync (global, or for ``guild_id``)."""
        with self._cond:
            return copy.deepcopy(list(self._commands.get(guild_id, {}).values()))

    # -- request handling ------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "FakeDiscord/1.0"
            protocol_version = "HTTP/1.1"  # keep-alive, like Discord
            disable_nagle_algorithm = True  # else headers + body cost a 40 ms delayed ACK

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def handle(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    body = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        body += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return body
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _serve(self) -> None:
                status, payload = fake._dispatch(
                    self.command, self.path, self.headers.get("Content-Type", ""),
                    self.headers.get("Authorization"), self._body())
                data = b"" if status == 204 else json.dumps(payload).encode()
                self.send_response(status)
                if status != 204:
                    # discord.py decodes JSON only for exactly this content type
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler

    def _dispatch(self, method: str, raw_path: str, content_type: str,
                  authorization: str | None, body: bytes) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        prefix = "/api/v10"
        path = url.path[len(prefix):] if url.path.startswith(prefix + "/") else url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        record: dict[str, Any] = {"name": None, "method": method, "path": path, "query": query,
                                  "json": None, "files": [],
                                  "content_type": content_type.split(";")[0],
                                  "status": None, "response": None, "interaction_id": None}
        status, result = self._route(record, method, path, url.path.startswith(prefix + "/"),
                                     content_type, authorization, body)
        with self._cond:
            record["status"] = status
            record["response"] = copy.deepcopy(result)
            self._calls.append(record)
            self._cond.notify_all()
        return status, result

    def _route(self, record: dict, method: str, path: str, versioned: bool, content_type: str,
               authorization: str | None, body: bytes) -> tuple[int, Any]:
        try:
            record["json"], record["files"] = _parse_body(content_type, body)
        except (ValueError, _ApiError) as exc:
            record["json"] = {"_unparsed": body.decode("utf-8", "replace")}
            return 400, {"message": f"400: Bad Request ({exc})", "code": 50109}
        for route_method, pattern, name, handler, auth in self._routes:
            match = pattern.match(path)
            if match is None or route_method != method or not versioned:
                continue
            record["name"] = name
            if auth and authorization != f"Bot {self.token}":
                return 401, {"message": "401: Unauthorized", "code": 0}
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                with self._cond:
                    result = handler(record=record, **params)
            except _ApiError as exc:
                return exc.status, exc.body
            except Exception as exc:  # a bug in the fake: fail the request, don't hang the bot
                self.errors.append(f"{method} {path}: {exc!r}")
                return 400, {"message": f"FakeDiscord bug: {exc!r}", "code": 0}
            return (204, None) if result is None else (200, result)
        record["name"] = f"unknown {method} {path}"
        return 404, {"message": "404: Not Found", "code": 0}

    # -- users, application, DMs -----------------------------------------------------------

    def _get_me(self, record: dict) -> dict:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0,
                "locale": "en-US"}

    def _app_info(self, record: dict) -> dict:
        return {"id": str(self.application_id), "name": self.bot_user["username"],
                "icon": None, "description": "", "summary": "", "rpc_origins": [],
                "bot_public": True, "bot_require_code_grant": False, "owner": self.owner,
                "team": None, "verify_key": "0" * 64, "flags": 0, "bot": self.bot_user,
                "interactions_endpoint_url": None, "redirect_uris": [], "tags": [],
                "integration_types_config": {"0": {}}}

    def _get_user(self, record: dict, user_id: str) -> dict:
        return copy.deepcopy(self._user(int(user_id)))

    def _create_dm(self, record: dict) -> dict:
        body = record["json"] or {}
        try:
            user_id = int(body["recipient_id"])
        except (KeyError, TypeError, ValueError):
            raise _form_error("recipient_id", "BASE_TYPE_REQUIRED",
                              "This field is required") from None
        self._user(user_id)
        return self._channel_payload(self._dm_channel(user_id))

    def _get_channel(self, record: dict, channel_id: str) -> dict:
        if int(channel_id) not in self._channels:
            raise _ApiError(404, 10003, "Unknown Channel")
        return self._channel_payload(int(channel_id))

    # -- commands --------------------------------------------------------------------------

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.application_id:
            raise _ApiError(403, 50001, "Missing Access")

    def _sync_commands(self, record: dict, app_id: str, guild_id: str | None = None) -> list:
        self._check_app(app_id)
        commands = record["json"]
        _check_commands(commands)
        guild = None if guild_id is None else int(guild_id)
        registered: dict[str, dict] = {}
        for command in commands:
            kind = command.get("type", 1)
            key = (guild, kind, command["name"])
            command_id = self._command_ids.setdefault(key, self._snowflake())
            stored = {"default_member_permissions": None, "nsfw": False, **command,
                      "id": str(command_id), "application_id": str(self.application_id),
                      "version": str(self._snowflake()), "type": kind}
            if guild is not None:
                stored["guild_id"] = str(guild)
            registered[command["name"]] = stored
        self._commands[guild] = registered
        return copy.deepcopy(list(registered.values()))

    def _get_commands(self, record: dict, app_id: str, guild_id: str | None = None) -> list:
        self._check_app(app_id)
        guild = None if guild_id is None else int(guild_id)
        return copy.deepcopy(list(self._commands.get(guild, {}).values()))

    # -- messages --------------------------------------------------------------------------

    def _number_components(self, components: list[dict]) -> list[dict]:
        components = copy.deepcopy(components)
        for component in _walk_components(components):
            component.setdefault("id", next(self._component_ids))
        return components

    def _attachments(self, body: dict, files: list[dict], keep: list[dict]) -> list[dict]:
        """Attachments after a create/edit: kept ones (by id) plus the uploaded files."""
        described = {str(a.get("id")): a for a in body.get("attachments") or []}
        result = []
        if "attachments" in body:
            wanted = {str(a.get("id")) for a in body["attachments"]}
            result = [a for a in keep if a["id"] in wanted]
        else:
            result = list(keep)
        for index, upload in enumerate(files):
            meta = described.get(str(index), {})
            attachment_id = str(self._snowflake())
            filename = meta.get("filename") or upload["filename"]
            url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
            entry = {"id": attachment_id, "filename": filename, "size": len(upload["data"]),
                     "url": url, "proxy_url": url, "content_type": upload["content_type"]}
            if meta.get("description"):
                entry["description"] = meta["description"]
            result.append(entry)
        return result

    def _new_message(self, channel_id: int, body: dict, files: list[dict], *,
                     interaction: dict | None = None, loading: bool = False,
                     ephemeral: bool | None = None) -> dict:
        flags = int(body.get("flags") or 0) & SETTABLE_FLAGS
        if interaction is None:
            flags &= ~EPHEMERAL
        elif ephemeral is not None:
            flags = (flags & ~EPHEMERAL) | (EPHEMERAL if ephemeral else 0)
        if loading:
            flags |= LOADING
        message_id = self._snowflake()
        message: dict[str, Any] = {
            "id": str(message_id), "channel_id": str(channel_id), "type": 0,
            "content": "" if loading else str(body.get("content") or ""),
            "author": copy.deepcopy(self.bot_user), "attachments": [],
            "embeds": [], "components": [], "mentions": [], "mention_roles": [],
            "mention_everyone": False, "pinned": False, "tts": bool(body.get("tts")),
            "timestamp": _now(), "edited_timestamp": None, "flags": flags,
        }
        if not loading:
            message["embeds"] = [{"type": "rich", **e} for e in body.get("embeds") or []]
            message["components"] = self._number_components(body.get("components") or [])
            message["attachments"] = self._attachments(body, files, [])
            if body.get("poll"):
                message["poll"] = copy.deepcopy(body["poll"])
        if interaction is not None:
            payload = interaction["payload"]
            user = payload.get("member", {}).get("user") or payload.get("user")
            message["type"] = 20 if payload["type"] == 2 else 0
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            metadata: dict[str, Any] = {
                "id": payload["id"], "type": payload["type"], "user": copy.deepcopy(user),
                "authorizing_integration_owners": payload["authorizing_integration_owners"]}
            if payload["type"] == 3:
                metadata["interacted_message_id"] = payload["message"]["id"]
            if interaction["original"] is not None:
                metadata["original_response_message_id"] = str(interaction["original"])
            message["interaction_metadata"] = metadata
        _check_message(message)
        if interaction is not None:
            interaction["messages"].add(message_id)
        self._messages[message_id] = message
        self._sent.append(copy.deepcopy(message))
        return message

    def _apply_edit(self, message_id: int, body: dict, files: list[dict]) -> dict:
        current = self._messages.get(message_id)
        if current is None or message_id in self._deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        edited = copy.deepcopy(current)
        if "content" in body:
            edited["content"] = str(body["content"] or "")
        if "embeds" in body:
            edited["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
        if "components" in body:
            edited["components"] = self._number_components(body["components"] or [])
        if "attachments" in body or files:
            edited["attachments"] = self._attachments(body, files, current["attachments"])
        if "flags" in body and body["flags"] is not None:
            changeable = SUPPRESS_EMBEDS | COMPONENTS_V2
            edited["flags"] = (edited["flags"] & ~changeable) | (int(body["flags"]) & changeable)
        edited["flags"] &= ~LOADING
        edited["edited_timestamp"] = _now()
        _check_message(edited)
        self._messages[message_id] = edited
        return edited

    def _channel_for_bot(self, channel_id: str) -> int:
        channel = int(channel_id)
        info = self._channels.get(channel)
        if info is None:
            raise _ApiError(404, 10003, "Unknown Channel")
        return channel

    def _send_message(self, record: dict, channel_id: str) -> dict:
        channel = self._channel_for_bot(channel_id)
        recipient = self._channels[channel]["recipient"]
        if recipient is not None and recipient in self.closed_dms:
            raise _ApiError(403, 50007, "Cannot send messages to this user")
        return copy.deepcopy(self._new_message(channel, record["json"] or {}, record["files"]))

    def _channel_message(self, channel_id: str, message_id: str) -> int:
        channel = self._channel_for_bot(channel_id)
        message = self._messages.get(int(message_id))
        if (message is None or int(message_id) in self._deleted
                or int(message["channel_id"]) != channel):
            raise _ApiError(404, 10008, "Unknown Message")
        return int(message_id)

    def _get_message(self, record: dict, channel_id: str, message_id: str) -> dict:
        return copy.deepcopy(self._messages[self._channel_message(channel_id, message_id)])

    def _edit_message(self, record: dict, channel_id: str, message_id: str) -> dict:
        target = self._channel_message(channel_id, message_id)
        if self._messages[target]["flags"] & EPHEMERAL:
            raise _ApiError(404, 10008, "Unknown Message")
        return copy.deepcopy(self._apply_edit(target, record["json"] or {}, record["files"]))

    def _delete_message(self, record: dict, channel_id: str, message_id: str) -> None:
        self._deleted.add(self._channel_message(channel_id, message_id))

    # -- interactions ----------------------------------------------------------------------

    def _callback(self, record: dict, interaction_id: str, token: str) -> dict | None:
        state = self._interactions.get(int(interaction_id))
        if state is None or state["token"] != token:
            raise _ApiError(404, 10062, "Unknown interaction")
        record["interaction_id"] = int(interaction_id)
        if state["callback"] is not None:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = record["json"] or {}
        kind = body.get("type")
        payload = state["payload"]
        if payload["type"] not in CALLBACK_ALLOWED.get(kind, set()):
            raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                              f"Callback type {kind} is not valid for interaction type "
                              f"{payload['type']}")
        data = body.get("data") or {}
        try:
            message = self._callback_effect(state, kind, data, record["files"])
        except _ApiError as exc:  # Discord reports the fields under "data"
            if "errors" in exc.body:
                exc.body["errors"] = {"data": exc.body["errors"]}
            raise
        state["callback"] = kind
        if record["query"].get("with_response", "").lower() not in ("1", "true"):
            return None
        result: dict[str, Any] = {"interaction": {"id": interaction_id, "type": payload["type"]}}
        if message is not None:
            result["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & LOADING),
                response_message_ephemeral=bool(message["flags"] & EPHEMERAL))
            result["resource"] = {"type": kind, "message": copy.deepcopy(message)}
        else:
            result["resource"] = {"type": kind}
        return result

    def _callback_effect(self, state: dict, kind: int, data: dict,
                         files: list[dict]) -> dict | None:
        """Apply an interaction callback; the message it created or edited, if any."""
        payload = state["payload"]
        message: dict | None = None
        if kind == 4:
            message = self._new_message(state["channel_id"], data, files, interaction=state)
        elif kind == 5:
            message = self._new_message(state["channel_id"], data, [], interaction=state,
                                        loading=True)
            state["loading"] = True
        elif kind in (6, 7):
            target = int(payload["message"]["id"])
            if kind == 7:
                message = self._apply_edit(target, data, files)
            state["original"] = target
        elif kind == 8:
            choices = data.get("choices")
            if not isinstance(choices, list) or len(choices) > 25:
                raise _form_error("choices", "BASE_TYPE_MAX_LENGTH",
                                  "Must be 25 or fewer in length.")
            for i, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name", ""))) <= 100:
                    raise _form_error(f"choices.{i}.name", "BASE_TYPE_BAD_LENGTH",
                                      "Must be between 1 and 100 in length.")
                _max_len(f"choices.{i}.value", choice.get("value"), 100)
        if kind in (4, 5):
            state["original"] = int(message["id"])
        return message

    def _webhook_state(self, record: dict, app_id: str, token: str) -> dict:
        interaction_id = self._by_token.get(token)
        if int(app_id) != self.application_id or interaction_id is None:
            raise _ApiError(404, 10015, "Unknown Webhook")
        record["interaction_id"] = interaction_id
        state = self._interactions[interaction_id]
        if state["callback"] is None:  # not acknowledged yet: the webhook does not exist
            raise _ApiError(404, 10015, "Unknown Webhook")
        return state

    def _webhook_target(self, state: dict, message_id: str | None) -> int:
        if message_id is None:
            if state["original"] is None:
                raise _ApiError(404, 10008, "Unknown Message")
            return state["original"]
        target = int(message_id)
        if target not in state["messages"] and target != state["original"]:
            raise _ApiError(404, 10008, "Unknown Message")
        return target

    def _followup(self, record: dict, app_id: str, token: str) -> dict | None:
        state = self._webhook_state(record, app_id, token)
        body = record["json"] or {}
        if state["loading"]:
            # The first followup after a "thinking" defer edits the loading message.
            message = self._apply_edit(state["original"], {k: v for k, v in body.items()
                                                           if k != "flags"}, record["files"])
            state["loading"] = False
        else:
            message = self._new_message(state["channel_id"], body, record["files"],
                                        interaction=state)
        wait = record["query"].get("wait", "").lower() in ("1", "true")
        return copy.deepcopy(message) if wait else None

    def _get_webhook_message(self, record: dict, app_id: str, token: str,
                             message_id: str | None = None) -> dict:
        state = self._webhook_state(record, app_id, token)
        target = self._webhook_target(state, message_id)
        if target in self._deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        return copy.deepcopy(self._messages[target])

    def _edit_webhook_message(self, record: dict, app_id: str, token: str,
                              message_id: str | None = None) -> dict:
        state = self._webhook_state(record, app_id, token)
        target = self._webhook_target(state, message_id)
        message = self._apply_edit(target, record["json"] or {}, record["files"])
        if target == state["original"]:
            state["loading"] = False
        return copy.deepcopy(message)

    def _delete_webhook_message(self, record: dict, app_id: str, token: str,
                                message_id: str | None = None) -> None:
        state = self._webhook_state(record, app_id, token)
        target = self._webhook_target(state, message_id)
        if target in self._deleted:
            raise _ApiError(404, 10008, "Unknown Message")
        self._deleted.add(target)


# -- driving discord.py ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect(client: discord.Client, fake: FakeDiscord, *, token: str | None = None,
                  ready: bool = True) -> AsyncIterator[discord.Client]:
    """Log ``client`` in against ``fake``; on exit let handlers finish, close the client and
    restore ``discord.http.Route.BASE``.

    ``login`` fetches ``/users/@me`` (the client user) and ``/oauth2/applications/@me`` (the
    application id the ``CommandTree`` and interaction responses need) and runs
    ``setup_hook``. With ``ready`` the client is then marked ready (``wait_until_ready``
    returns) and ``on_ready`` is dispatched, as after the gateway's READY — but no guilds or
    channels are cached.
    """
    previous_base = Route.BASE
    Route.BASE = fake.base_url
    errors = _LibraryErrorLog(fake)
    logger = logging.getLogger("discord")
    logger.addHandler(errors)
    try:
        await client.login(fake.token if token is None else token)
        if ready:
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


async def dispatch(client: discord.Client, payload: dict, *, settle_first: bool = True) -> None:
    """Deliver an ``INTERACTION_CREATE`` payload like the gateway does.

    Returns as soon as the library has taken it (it handles it in tasks: await the fake's
    recorded calls, or :func:`settle`). With ``settle_first`` it first lets the handlers of
    earlier interactions finish, as a human is slower than the bot: the fake records a
    response before discord.py has processed the reply (e.g. stored a ``View`` under the new
    message id), so a press dispatched right after ``await fake.response(...)`` could
    otherwise reach the library before the view is registered.
    """
    if settle_first:
        await settle(client)
    if client.user is None:
        raise RuntimeError("the client is not logged in: use `async with connect(client, fake)`")
    if client.application_id != int(payload["application_id"]):
        raise ValueError(f"payload for application {payload['application_id']}, client is "
                         f"{client.application_id}")
    client._connection.parsers["INTERACTION_CREATE"](copy.deepcopy(payload))


async def settle(client: discord.Client, timeout: float = 5.0) -> None:
    """Wait until discord.py's tasks for dispatched interactions and events are done
    (command invocations, view and dynamic-item callbacks, ``on_*`` event handlers)."""
    current = asyncio.current_task()
    deadline = time.monotonic() + timeout
    while True:
        pending = [t for t in asyncio.all_tasks() if t is not current and not t.done()
                   and t.get_name().startswith(LIBRARY_TASK_PREFIXES)]
        if not pending:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"discord.py handlers still running after {timeout}s: "
                                 f"{sorted(t.get_name() for t in pending)}")
        await asyncio.wait(pending, timeout=remaining)


__all__ = ["FakeDiscord", "connect", "dispatch", "settle"]
