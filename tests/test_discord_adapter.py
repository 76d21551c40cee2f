"""The Discord adapter through the real discord.py, hooked in at its request layer.

discord.py sends interaction callbacks and followups through the webhook adapter
(``discord.webhook.async_.async_context``) and everything else (users, DMs) through
``HTTPClient.request``. :class:`DiscordApi` takes both: it records each request (method,
route, JSON body) and answers with the JSON Discord would send. Interactions go in as
``INTERACTION_CREATE`` payloads through the gateway's parser, so ``CommandTree``,
autocomplete and the ``DynamicItem`` buttons dispatch as in production; no gateway, no
HTTP server.

One end-to-end journey over HTTP (the fake Discord API), the cross-platform contract and
the network's faults (which need discord.py's own retry code, bypassed here) are in
``tests/test_discord_e2e.py``.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import discord
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from bot.core import Conversation
from bot.discord import DiscordBot, chunks
from storage import Storage
from tests import bot_model
from tests.bot_model import small_model

APP_ID = 1_100_000_000_000_000_001
BOT_USER = {"id": str(APP_ID), "username": "TestBot", "discriminator": "0",
            "global_name": None, "avatar": None, "bot": True, "public_flags": 0}
ANN, BOB, ADMIN = 1001, 1002, 4242
NAMES = {ANN: "ann", BOB: "bob", ADMIN: "root"}  # Discord shows global names: "Ann"
GUILD, CHANNEL = 777, 778
EPHEMERAL = 1 << 6
EDIT, REPLY, CHOICES = 7, 4, 8  # interaction callback types
COMMANDS = {"start", "help", "like", "dislike", "unlike", "rate", "likes", "recommend",
            "more", "similar", "why", "watchlist", "watch", "unwatch", "forget",
            "import", "export", "link", "movienight", "stats", "retrain", "rollback"}
TITLED = {"like", "dislike", "unlike", "watch", "unwatch", "similar", "why", "rate"}
LIBRARY_TASKS = ("CommandTree-invoker", "discord-ui-view-dispatch-",
                 "discord-ui-dynamic-item-", "discord.py: ")


def user_payload(user_id: int) -> dict:
    name = NAMES.get(user_id, f"user{user_id}")
    return {"id": str(user_id), "username": name, "discriminator": "0",
            "global_name": name.title(), "avatar": None, "public_flags": 0}


class DiscordApi(AsyncWebhookAdapter):
    """Discord's REST API as discord.py's request layer sees it: records, then answers.

    ``calls`` holds ``{"method", "route", "json", "interaction"}`` (the route as discord.py
    names it, e.g. ``/channels/{channel_id}/messages``); ``messages`` the current state of
    every message the bot sent, by id.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []
        self.messages: dict[int, dict] = {}
        self.interactions: dict[int, dict] = {}  # id -> INTERACTION_CREATE payload
        self._ids = itertools.count(1_300_000_000_000_000_000)

    def snowflake(self) -> int:
        return next(self._ids)

    async def request(self, route: discord.http.Route, session: object = None, *,
                      payload: dict | None = None, multipart: list[dict] | None = None,
                      **kwargs: Any) -> Any:
        """The webhook adapter's one way out: interaction callbacks and followups."""
        if multipart:
            payload = json.loads(next(p["value"] for p in multipart
                                      if p["name"] == "payload_json"))
        return self._record(route, payload)

    async def http_request(self, route: discord.http.Route, **kwargs: Any) -> Any:
        """Stands in for ``HTTPClient.request``: users, DM channels, messages."""
        return self._record(route, kwargs.get("json"))

    def _record(self, route: discord.http.Route, body: dict | None) -> Any:
        interaction = self._interaction_of(route)
        self.calls.append({"method": route.method, "route": route.path,
                           "json": copy.deepcopy(body), "interaction": interaction})
        answer = {("POST", "/interactions/{webhook_id}/{webhook_token}/callback"):
                  self._callback,
                  ("POST", "/webhooks/{webhook_id}/{webhook_token}"): self._followup,
                  ("GET", "/users/{user_id}"): self._user,
                  ("POST", "/users/@me/channels"): self._dm_channel,
                  ("POST", "/channels/{channel_id}/messages"): self._channel_message,
                  }.get((route.method, route.path))
        if answer is None:
            raise AssertionError(f"unexpected request {route.method} {route.url}")
        return copy.deepcopy(answer(route, body or {}, interaction))

    def _interaction_of(self, route: discord.http.Route) -> dict | None:
        return next((p for p in self.interactions.values()
                     if route.webhook_token is not None and p["token"] == route.webhook_token),
                    None)

    def _message(self, channel_id: int, body: dict, interaction: dict | None) -> dict:
        message = {"id": str(self.snowflake()), "channel_id": str(channel_id),
                   "type": 20 if interaction and interaction["type"] == 2 else 0,
                   "content": body.get("content") or "", "author": BOT_USER,
                   "attachments": [], "embeds": body.get("embeds") or [],
                   "components": body.get("components") or [], "mentions": [],
                   "mention_roles": [], "mention_everyone": False, "pinned": False,
                   "tts": False, "timestamp": datetime.now(UTC).isoformat(),
                   "edited_timestamp": None, "flags": int(body.get("flags") or 0)}
        if interaction is not None:
            message["webhook_id"] = str(APP_ID)
        self.messages[int(message["id"])] = message
        return message

    def _callback(self, route: discord.http.Route, body: dict, interaction: dict) -> dict:
        data = body.get("data") or {}
        message = None
        if body["type"] == REPLY:
            message = self._message(int(interaction["channel_id"]), data, interaction)
        elif body["type"] == EDIT:
            message = self.messages[int(interaction["message"]["id"])]
            message.update({k: v for k, v in data.items()
                            if k in ("content", "embeds", "components")})
            message["content"] = message["content"] or ""
            message["embeds"], message["components"] = (message["embeds"] or [],
                                                        message["components"] or [])
        result: dict[str, Any] = {"interaction": {"id": interaction["id"],
                                                  "type": interaction["type"]},
                                  "resource": {"type": body["type"]}}
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"]["message"] = message
        return result

    def _followup(self, route: discord.http.Route, body: dict, interaction: dict) -> dict:
        return self._message(int(interaction["channel_id"]), body, interaction)

    def _user(self, route: discord.http.Route, body: dict, interaction: None) -> dict:
        return user_payload(int(route.url.rsplit("/", 1)[-1]))

    def _dm_channel(self, route: discord.http.Route, body: dict, interaction: None) -> dict:
        user_id = int(body["recipient_id"])
        return {"id": str(user_id + 1), "type": 1, "last_message_id": None, "flags": 0,
                "recipients": [user_payload(user_id)]}

    def _channel_message(self, route: discord.http.Route, body: dict,
                         interaction: None) -> dict:
        return self._message(int(route.channel_id), body, None)

    def replies(self, interaction: dict) -> list[dict]:
        """What the bot answered ``interaction`` with: the callback, then any followups."""
        return [c["json"] for c in self.calls if c["interaction"] is interaction]

    def dms(self, user_id: int) -> list[dict]:
        """Messages the bot sent to ``user_id``'s DM channel."""
        return [c["json"] for c in self.calls if c["route"] == "/channels/{channel_id}/messages"
                and c["json"] is not None and self._dm_of(c) == user_id]

    def _dm_of(self, call: dict) -> int:
        index = self.calls.index(call)
        opened = [c for c in self.calls[:index] if c["route"] == "/users/@me/channels"]
        return int(opened[-1]["json"]["recipient_id"]) if opened else 0


def channel_payload(user_id: int, guild: bool) -> dict:
    if guild:
        return {"id": str(CHANNEL), "type": 0, "guild_id": str(GUILD), "name": "general",
                "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                "topic": None, "last_message_id": None, "rate_limit_per_user": 0, "flags": 0}
    return {"id": str(user_id + 1), "type": 1, "last_message_id": None, "flags": 0,
            "recipients": [user_payload(user_id)]}


def where(payload: dict, user_id: int, guild: bool) -> None:
    """Who sent ``payload`` and from where: a DM, or a server channel as a member."""
    payload["channel"] = channel_payload(user_id, guild)
    payload["channel_id"] = payload["channel"]["id"]
    if not guild:
        payload["user"] = user_payload(user_id)
        return
    payload.update(guild_id=str(GUILD), guild={"id": str(GUILD), "locale": "en-US",
                                               "features": []}, guild_locale="en-US")
    payload["member"] = {"user": user_payload(user_id), "roles": [], "nick": None,
                         "avatar": None, "joined_at": "2024-01-01T00:00:00+00:00",
                         "deaf": False, "mute": False, "flags": 0, "pending": False,
                         "permissions": str(1 << 31 | 1 << 11 | 1 << 10)}


class Discord:
    """People using the bot in Discord: slash commands, autocomplete, button presses."""

    def __init__(self, bot: DiscordBot, api: DiscordApi) -> None:
        self.bot, self.api = bot, api

    def _payload(self, kind: int, data: dict, user_id: int, guild: bool) -> dict:
        interaction_id = self.api.snowflake()
        payload = {"id": str(interaction_id), "application_id": str(APP_ID), "type": kind,
                   "data": data, "token": f"token-{interaction_id}", "version": 1,
                   "locale": "en-US", "app_permissions": "0", "entitlements": [],
                   "authorizing_integration_owners": {"0": str(GUILD if guild else 0)},
                   "context": 0 if guild else 1, "attachment_size_limit": 10 << 20}
        where(payload, user_id, guild)
        self.api.interactions[interaction_id] = payload
        return payload

    def _options(self, name: str, values: dict, focused: str | None) -> list[dict]:
        """Options as a Discord client sends them: typed as the command declares them."""
        declared = {o["name"]: o for o in
                    self.bot.tree.get_command(name).to_dict(self.bot.tree).get("options", [])}
        return [{"name": key, "type": declared[key]["type"], "value": value,
                 **({"focused": True} if key == focused else {})}
                for key, value in values.items()]

    async def _dispatch(self, payload: dict) -> list[dict]:
        self.bot._connection.parsers["INTERACTION_CREATE"](copy.deepcopy(payload))
        await settle()
        return self.api.replies(payload)

    async def slash(self, name: str, options: dict | None = None, user_id: int = ANN,
                    guild: bool = False) -> list[dict]:
        """``/name`` with ``options``; the bot's callback and followups, as sent."""
        data = {"id": str(self.api.snowflake()), "name": name, "type": 1,
                "options": self._options(name, options or {}, None)}
        return await self._dispatch(self._payload(2, data, user_id, guild))

    async def say(self, name: str, options: dict | None = None, user_id: int = ANN,
                  guild: bool = False) -> dict:
        """The one message ``/name`` was answered with (the callback's data)."""
        [callback] = await self.slash(name, options, user_id, guild)
        assert callback["type"] == REPLY, callback
        return callback["data"]

    async def complete(self, name: str, options: dict, focused: str,
                       user_id: int = ANN) -> list[dict]:
        """The choices offered while ``focused`` is being typed."""
        data = {"id": str(self.api.snowflake()), "name": name, "type": 1,
                "options": self._options(name, options, focused)}
        [callback] = await self._dispatch(self._payload(4, data, user_id, False))
        assert callback["type"] == CHOICES
        return callback["data"]["choices"]

    async def press(self, message: dict, label_part: str, user_id: int = ANN) -> list[dict]:
        """``user_id`` presses the button labelled ``label_part`` on ``message`` (as it is
        now); the callback and followups."""
        current = self.api.messages[int(message["id"])]
        button = next((b for row in current["components"] for b in row["components"]
                       if label_part in b["label"]), None)
        assert button, f"no button {label_part!r} in {labels(current)}"
        data = {"custom_id": button["custom_id"], "component_type": 2}
        payload = self._payload(3, data, user_id, current["channel_id"] == str(CHANNEL))
        payload["message"] = copy.deepcopy(current)
        return await self._dispatch(payload)

    def last_message(self) -> dict:
        return self.api.messages[max(self.api.messages)]


def labels(message: dict) -> list[str]:
    return [b["label"] for row in message.get("components") or [] for b in row["components"]]


async def settle(timeout: float = 60.0) -> None:
    """Wait until discord.py's tasks for the dispatched interactions are done."""
    current = asyncio.current_task()
    while pending := [t for t in asyncio.all_tasks() if t is not current and not t.done()
                      and t.get_name().startswith(LIBRARY_TASKS)]:
        done, _ = await asyncio.wait(pending, timeout=timeout)
        assert done, f"still running after {timeout}s: {[t.get_name() for t in pending]}"


class ErrorLog(logging.Handler):
    """ERROR records of the library and the bot: a handler that raised."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


Scenario = Callable[[Discord], Awaitable[None]]


def drive(conversation: Conversation, scenario: Scenario,
          api: DiscordApi | None = None) -> DiscordApi:
    """Run ``scenario`` against a fresh :class:`DiscordBot`; fails on any logged error."""
    api = api or DiscordApi()
    errors = ErrorLog()

    async def main() -> None:
        # Never deferred: every interaction is answered by its callback, however loaded the
        # machine (deferral is tested over HTTP in tests/test_discord_e2e.py).
        bot = DiscordBot(conversation, sync_commands=False, defer_after=None)
        async with bot:  # the client's loop, no login
            bot.http.request = api.http_request
            bot._connection.user = discord.ClientUser(state=bot._connection, data=BOT_USER)
            bot._connection.application_id = APP_ID
            await bot.setup_hook()
            async_context.set(api)  # this task and the ones it starts
            await scenario(Discord(bot, api))
            await settle()

    for name in ("discord", "bot"):
        logging.getLogger(name).addHandler(errors)
    try:
        asyncio.run(main())
    finally:
        for name in ("discord", "bot"):
            logging.getLogger(name).removeHandler(errors)
    assert errors.records == []
    return api


@pytest.fixture
def conversation(chat_with):
    return chat_with(ADMIN)


def fields_of(message: dict) -> list[dict]:
    [embed] = message["embeds"]
    return embed["fields"]


def test_every_command_is_a_slash_command_with_typed_options(conversation):
    bot = DiscordBot(conversation, sync_commands=False)
    synced = {c.name: c.to_dict(bot.tree) for c in bot.tree._get_all_commands()}
    assert set(synced) == COMMANDS
    for name, command in synced.items():
        assert re.fullmatch(r"[-_a-z0-9]{1,32}", name)
        assert 1 <= len(command["description"]) <= 100
        required = [o.get("required", False) for o in command.get("options", [])]
        assert required == sorted(required, reverse=True), name  # required ones first
    for name in TITLED:
        title = synced[name]["options"][0]
        assert (title["name"], title["type"], title["required"]) == ("title", 3, True)
        assert title["autocomplete"] and title["max_length"] == 200
    stars = synced["rate"]["options"][1]
    assert (stars["name"], stars["type"], stars["min_value"], stars["max_value"]) == (
        "stars", 10, 0.5, 5.0)
    options = {o["name"]: o for o in synced["recommend"]["options"]}
    assert options["count"]["type"] == 4 and not options["count"].get("required")
    assert options["count"]["min_value"] == 1 and options["count"]["max_value"] >= 10
    assert [c["value"] for c in options["kind"]["choices"]] == ["movie", "tv"]
    assert options["genre"]["autocomplete"] and options["years"]["type"] == 3
    [action] = synced["movienight"]["options"]
    assert [c["value"] for c in action["choices"]] == ["pick", "join", "leave"]
    [upload] = synced["import"]["options"]
    assert (upload["name"], upload["type"], upload.get("required", False)) == ("file", 11, False)


def test_titles_and_genres_autocomplete(conversation):
    async def scenario(discord_: Discord) -> None:
        typo = await discord_.complete("like", {"title": "godfahter"}, "title")
        assert [c["name"] for c in typo][:2] == ["The Godfather (1972)",
                                                 "The Godfather: Part II (1974)"]
        assert typo[0]["value"] == "The Godfather 1972"
        [tv, *_] = await discord_.complete("watch", {"title": "breaking bad"}, "title")
        assert tv == {"name": "Breaking Bad (2008) [TV]", "value": "Breaking Bad 2008 tv"}
        assert await discord_.complete("rate", {"title": "   "}, "title") == []
        many = await discord_.complete("similar", {"title": "e" * 200}, "title")
        assert len(many) <= 25
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in many)
        genres = await discord_.complete("recommend", {"genre": "rom"}, "genre")
        assert [g["value"] for g in genres] == ["Romance"]
        genres = await discord_.complete("recommend", {"count": 2, "genre": "sci"}, "genre")
        assert [g["value"] for g in genres] == ["Sci-Fi"]

    api = drive(conversation, scenario)
    assert not api.messages  # autocomplete shows nothing in the channel


def test_typed_options_reach_the_core(conversation):
    async def scenario(discord_: Discord) -> None:
        typed = await discord_.complete("like", {"title": "godfather part"}, "title")
        chosen = next(c["value"] for c in typed if c["name"].startswith("The Godfather: Part"))
        liked = await discord_.say("like", {"title": chosen})
        assert liked["content"].startswith("❤ Liked The Godfather: Part II (1974)")
        rated = await discord_.say("rate", {"title": "alien 1979", "stars": 4.5})
        assert "Alien (1979)" in rated["content"] and "4.5" in rated["content"]
        comedy = await discord_.say("recommend", {"count": 2, "genre": "Comedy"})
        fields = fields_of(comedy)
        assert len(fields) == 2 and all("Comedy" in f["name"] for f in fields)
        tv = await discord_.say("recommend", {"kind": "tv"})
        assert [f["name"] for f in fields_of(tv)] == ["1. Breaking Bad (2008) [TV] · Crime, Drama"]

    drive(conversation, scenario)


def test_recommend_with_years_typed_with_spaces(conversation):
    async def scenario(discord_: Discord) -> None:
        picks = await discord_.say("recommend", {"count": 3, "kind": "movie", "genre": "Sci-Fi",
                                                 "years": "1980 - 1989"})
        names = [f["name"] for f in fields_of(picks)]
        assert len(names) == 3
        assert all("Sci-Fi" in n and " (198" in n for n in names), names
        nineties = await discord_.say("recommend", {"count": 3, "kind": "movie",
                                                    "genre": "Sci-Fi", "years": "1990 - 1999"})
        assert nineties["content"].startswith("Nothing matches those filters yet")

    drive(conversation, scenario)


def test_lists_are_embeds_and_buttons_fit_discords_limits(conversation):
    async def scenario(discord_: Discord) -> None:
        picks = await discord_.say("recommend", {"count": 10})
        [embed] = picks["embeds"]
        assert embed["title"] == "Picks for you:"
        assert embed["description"].startswith("You haven't told me what you like yet")
        assert len(embed["fields"]) == 10
        rows = picks["components"]
        assert 1 <= len(rows) <= 5 and all(1 <= len(r["components"]) <= 5 for r in rows)
        custom_ids = [b["custom_id"] for r in rows for b in r["components"]]
        assert len(custom_ids) == len(set(custom_ids))
        assert all(len(c) <= 100 for c in custom_ids)
        assert labels(picks)[0] == "1 👍"

    drive(conversation, scenario)


def test_long_titles_are_cut_to_fit_an_embed(monkeypatch, tmp_path):
    long = [(i, f"{title} " + "and the Very Long Subtitle " * 12, year, genres, kind, f)
            for i, title, year, genres, kind, f in bot_model.CATALOGUE]
    monkeypatch.setattr(bot_model, "CATALOGUE", long)
    storage = Storage(tmp_path / "long.sqlite3")

    async def scenario(discord_: Discord) -> None:
        for title in ("Star Wars", "Alien", "The Empire Strikes Back"):
            await discord_.say("like", {"title": title})  # "did you mean": a button each
            [liked] = await discord_.press(discord_.last_message(), title)
            assert liked["data"]["content"].startswith(f"❤ Liked {title} and the Very")
        picks = await discord_.say("recommend", {"count": 10})
        [embed] = picks["embeds"]
        assert len(embed["title"]) <= 256 and len(embed.get("description") or "") <= 4096
        assert all(len(f["name"]) <= 256 and 1 <= len(f["value"]) <= 1024
                   for f in embed["fields"])
        size = len(embed["title"]) + len(embed.get("description") or "") + sum(
            len(f["name"]) + len(f["value"]) for f in embed["fields"])
        assert size <= 6000
        assert len(embed["fields"]) < 10  # the 6000 characters ran out before the picks
        assert all(len(b) <= 80 for b in labels(picks))

    try:
        drive(Conversation(small_model(), storage), scenario)
    finally:
        storage.close()


def test_buttons_answer_and_pages_are_edited_in_place(conversation):
    async def scenario(discord_: Discord) -> None:
        ambiguous = await discord_.say("like", {"title": "godfather"})
        assert ambiguous["content"].startswith('Several titles match "godfather"')
        [liked] = await discord_.press(discord_.last_message(), "The Godfather (1972)")
        assert liked["type"] == REPLY
        assert liked["data"]["content"].startswith("❤ Liked The Godfather (1972)")
        await discord_.say("recommend", {"count": 3, "kind": "movie"})
        [thumbs] = await discord_.press(discord_.last_message(), "1 👍")
        assert "Liked The Godfather: Part II" in thumbs["data"]["content"]
        for title in ("alien 1979", "aliens", "fargo", "dune 2021"):
            await discord_.say("like", {"title": title})
        likes = await discord_.say("likes")
        assert likes["content"].startswith("What you told me (6), newest first:")
        message = discord_.last_message()
        [page] = await discord_.press(message, "Older ▶")
        assert page["type"] == EDIT  # the same message, now showing the older ones
        assert "The Godfather (1972)" in page["data"]["content"]
        assert "Dune (2021)" not in page["data"]["content"]
        assert labels(discord_.api.messages[int(message["id"])]) == ["◀ Newer"]

    drive(conversation, scenario)


def test_buttons_work_after_a_restart(conversation):
    """The buttons' state is in their custom_id: a new process answers old messages."""
    api = DiscordApi()

    async def before(discord_: Discord) -> None:
        await discord_.say("watch", {"title": "alien 1979"})
        await discord_.say("watch", {"title": "fargo"})
        listing = await discord_.say("watchlist")
        assert "2. Alien (1979)" in listing["content"]  # newest first

    async def after(discord_: Discord) -> None:
        [removed] = await discord_.press(discord_.last_message(), "2 ✖")
        assert removed["type"] == EDIT
        assert "Alien (1979)" not in removed["data"]["content"]
        assert "Fargo (1996)" in removed["data"]["content"]

    drive(conversation, before, api)
    drive(conversation, after, api)


def test_personal_replies_are_ephemeral_in_a_server_and_admins_get_dms(conversation):
    async def scenario(discord_: Discord) -> None:
        await discord_.say("like", {"title": "star wars"}, guild=True)
        public = await discord_.say("recommend", {"count": 2}, guild=True)
        assert not (public.get("flags") or 0) & EPHEMERAL
        likes = await discord_.say("likes", guild=True)
        assert likes["flags"] & EPHEMERAL and "Star Wars" in likes["content"]
        assert not likes.get("components")  # one page: no buttons at all
        in_dm = await discord_.say("likes")
        assert not (in_dm.get("flags") or 0) & EPHEMERAL
        refused = await discord_.say("retrain", guild=True)
        assert refused["content"] == "Sorry, /retrain is only for the bot's admins."
        assert refused["flags"] & EPHEMERAL
        stats = await discord_.say("stats", user_id=ADMIN, guild=True)
        assert "Users: 2" in stats["content"] and stats["flags"] & EPHEMERAL
        # A retraining result, pushed by the core from another thread: a DM to the admin.
        await asyncio.to_thread(conversation.tell, None, "✅ New model *v2* is live.")
        [dm] = discord_.api.dms(ADMIN)
        assert dm["content"] == "✅ New model \\*v2\\* is live."

    drive(conversation, scenario)


def test_movie_night_in_a_server_channel(conversation):
    async def scenario(discord_: Discord) -> None:
        await discord_.say("like", {"title": "star wars"}, user_id=ANN, guild=True)
        await discord_.say("like", {"title": "the godfather 1972"}, user_id=BOB, guild=True)
        joined = await discord_.say("movienight", {"action": "join"}, user_id=ANN, guild=True)
        assert joined["content"].startswith("🍿 Ann is in for movie night.")
        await discord_.say("movienight", {"action": "join"}, user_id=BOB, guild=True)
        night = await discord_.say("movienight", user_id=ANN, guild=True)
        [embed] = night["embeds"]
        assert embed["title"] == "🍿 Movie night for Ann and Bob:"
        values = {f["value"] for f in embed["fields"]}
        assert "for Ann" in values  # a pick without an IMDb id
        assert "for Bob · [IMDb](https://www.imdb.com/title/tt0116282/)" in values  # Fargo
        assert "Nobody here has seen these" in embed["description"]
        [watch] = await discord_.press(discord_.last_message(), "1 ➕", user_id=BOB)
        assert watch["data"]["flags"] & EPHEMERAL
        private = await discord_.say("movienight", {"action": "join"}, user_id=ANN)
        assert "Movie night is for group chats" in private["content"]

    drive(conversation, scenario)


def test_long_pushes_are_split_under_2000_and_never_ping(conversation):
    text = "\n".join(f"{i}. @everyone *Title* " * 12 for i in range(300))

    async def scenario(discord_: Discord) -> None:
        await asyncio.to_thread(conversation.tell, None, text)
        await asyncio.to_thread(conversation.tell, None, "x" * 4500)

    api = drive(conversation, scenario)
    parts = [m["content"] for m in api.dms(ADMIN)]
    assert all(len(p) <= 2000 for p in parts)
    assert "@everyone" not in "".join(parts) and "\\*Title\\*" in parts[0]
    assert [len(p) for p in parts if set(p) == {"x"}] == [2000, 2000, 500]
    assert [len(p) for p in chunks("x" * 4500)] == [2000, 2000, 500]
