"""Discord adapter (discord.py 2): slash commands, title autocomplete, buttons, embeds.

Every core command is an application (slash) command with typed options
(``/recommend count:5 kind:tv genre:Comedy``); title options autocomplete from our
title index. Lists come as embeds, with 👍 👎 ➕ ✔ buttons whose ``custom_id`` is the
core's button data: a :class:`discord.ui.DynamicItem` routes any press to the core,
so buttons keep working after a restart. Personal replies (lists, /why, admin
commands, button results) are ephemeral in servers. Discord's limits (2,000
characters a message, 25 embed fields, 5 rows of 5 buttons, 25 autocomplete choices)
are respected by cutting, never by failing.

Discord's network is not reliable either. discord.py waits out a 429 as long as Discord
asks, and retries a 5xx on interaction replies (and a 500/502/504 elsewhere) with its own
backoff; the bot retries what it gives up on at once (:func:`transient`): a reset or dropped
connection, a timeout, a 503 on a direct message. Discord drops an interaction that is
not acknowledged within 3 seconds, so a slow answer is deferred first ("thinking…").
A reply that still fails is one log line, without a traceback. ``/import`` takes a file
option: the adapter fetches the attachment's bytes and hands them to the core; files the
core sends back (``/export``) are attached to the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, Optional

import aiohttp
import discord
from discord import app_commands

from bot.backoff import Backoff
from bot.commands import MAX_COUNT, Command, Param
from bot.core import Conversation, UserRef
from bot.formats import MAX_BYTES
from bot.replies import Button, Reply, describe, split_message

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
EMBED_TITLE, EMBED_DESCRIPTION, EMBED_FIELDS = 256, 4096, 25
FIELD_NAME, FIELD_VALUE, EMBED_TOTAL = 256, 1024, 6000
BUTTON_LABEL, ROW_WIDTH, ROWS = 80, 5, 5
CHOICES, CHOICE_TEXT = 25, 100
PREFIX = "core:"
DEFER_AFTER = 1.0  # seconds of work before deferring: leaves discord.py time to retry the ack
ALREADY_ACKNOWLEDGED = 40060  # Discord's code when an interaction is answered twice
HTTP_CLIENT_RETRIES = frozenset({500, 502, 504, 524})  # what discord.http retries itself
NETWORK_ERRORS = (aiohttp.ClientConnectionError, OSError)  # a TimeoutError is an OSError
DISCORD_BACKOFF = Backoff(tries=4)  # after discord.py's own tries


def transient(exc: Exception) -> bool:
    """Worth another try: what discord.py gives up on at once. It retries a reset
    connection only by its macOS and Windows errno (never Linux's ECONNRESET), and never a
    dropped connection or a timeout. A 5xx has had its five tries, a 4xx is an answer, and
    a 429 is discord.py's to wait out."""
    return isinstance(exc, NETWORK_ERRORS)


def transient_or_503(exc: Exception) -> bool:
    """Also a 503 on a user or DM call, which discord.py's ``HTTPClient`` gives up on at
    once (it retries the other 5xx itself)."""
    return transient(exc) or (isinstance(exc, discord.DiscordServerError)
                              and exc.status not in HTTP_CLIENT_RETRIES)


class ReplyLost(Exception):
    """A call to Discord that failed for good: discord.py's retries and ours are done."""


def describe_error(exc: BaseException, *secrets: str | None) -> str:
    """One line for the log: the error's kind and Discord's words, no token in them."""
    text = f"{type(exc).__name__}: {str(exc)[:200]}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text


def user_of(interaction: discord.Interaction) -> UserRef:
    """Discord users are their own namespace ("discord") in storage; a server channel is a room."""
    who = interaction.user
    room = (f"discord:{interaction.guild_id}:{interaction.channel_id}"
            if interaction.guild_id else None)
    return UserRef("discord", str(who.id), who.display_name, room)


def _safe(text: str) -> str:
    """Text shown as-is: no markdown from titles, no @everyone pings."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def chunks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Escaped text in parts that each fit one message (no escape cut in two)."""
    return split_message(_safe(text), limit, unsafe="\\")


def embed_of(reply: Reply) -> discord.Embed:
    """A list reply as an embed: the intro's last line as title, one field per card, the
    rest of the intro and the outro as description."""
    intro = [x for x in reply.intro.split("\n") if x.strip()]
    title = intro[-1] if intro else "Picks"
    description = "\n".join([*intro[:-1], *([reply.outro] if reply.outro else [])])
    embed = discord.Embed(title=_safe(title)[:EMBED_TITLE],
                          description=_safe(description)[:EMBED_DESCRIPTION] or None,
                          colour=discord.Colour.blurple())
    used = len(embed.title or "") + len(embed.description or "")
    for card in reply.cards[:EMBED_FIELDS]:
        link = f" · [IMDb]({card.link})" if card.link else ""
        name = _safe(card.heading)[:FIELD_NAME]
        value = (_safe(card.detail)[:FIELD_VALUE - len(link)] + link).strip(" ·") or "…"
        if used + len(name) + len(value) > EMBED_TOTAL:
            break
        embed.add_field(name=name, value=value, inline=False)
        used += len(name) + len(value)
    return embed


class CoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"core:(?P<data>.+)"):
    """A button carrying core data; any press, even on a message from before a restart,
    goes to :meth:`DiscordBot.on_button`."""

    def __init__(self, data: str, label: str = "…") -> None:
        super().__init__(discord.ui.Button(label=label[:BUTTON_LABEL],
                                           custom_id=f"{PREFIX}{data}"[:100],
                                           style=discord.ButtonStyle.secondary))
        self.data = data

    @classmethod
    async def from_custom_id(cls, _interaction: discord.Interaction, item: discord.ui.Item,
                             match: re.Match[str]) -> CoreButton:
        return cls(match["data"], getattr(item, "label", None) or "…")

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        if isinstance(client, DiscordBot):
            await client.on_button(interaction, self.data)


def view_of(buttons: list[list[Button]]) -> discord.ui.View | None:
    """The core's button rows repacked into Discord's 5 rows of 5."""
    flat = [b for row in buttons for b in row][:ROW_WIDTH * ROWS]
    if not flat:
        return None
    view = discord.ui.View(timeout=None)
    for i, button in enumerate(flat):
        item = CoreButton(button.data, button.label)
        item.row = i // ROW_WIDTH
        view.add_item(item)
    return view


def messages_of(reply: Reply) -> list[dict]:
    """Keyword arguments for one or more sends; the buttons go with the last."""
    if any(card.detail for card in reply.cards):  # picks with reasons; plain lists read as text
        sends = [{"embed": embed_of(reply)}]
    else:
        # <url>: Discord shows the link without a preview card.
        sends = [{"content": part} for part in chunks(reply.plain(link=lambda url: f"<{url}>"))]
    view = view_of(reply.buttons)
    if view is not None:
        sends[-1]["view"] = view
    if reply.files:
        sends[-1]["files"] = reply.files  # made discord.File per attempt: see _attached
    return sends


def _attached(kwargs: dict) -> dict:
    """A send's keyword arguments with our files as new ``discord.File`` objects: one is
    read to its end by a send, so every attempt needs its own."""
    if "files" not in kwargs:
        return kwargs
    return {**kwargs, "files": [discord.File(io.BytesIO(f.data), filename=f.name)
                                for f in kwargs["files"]]}


class DiscordBot(discord.Client):
    """The bot: slash commands built from the core's command list, wiring in one place."""

    def __init__(self, conversation: Conversation, *, sync_commands: bool = True,
                 backoff: Backoff = DISCORD_BACKOFF, defer_after: float | None = DEFER_AFTER
                 ) -> None:
        """``defer_after``: seconds of work before an interaction is deferred (None: never)."""
        super().__init__(intents=discord.Intents.default())
        self.conversation = conversation
        self.sync_commands = sync_commands
        self.backoff = backoff
        self.defer_after = defer_after
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_command_error
        add_commands(self)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CoreButton)
        loop = asyncio.get_running_loop()

        def send(user_id: str, text: str) -> None:  # the core's unprompted messages
            coro = self.direct_message(int(user_id), text)
            asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

        self.conversation.add_outbox("discord", send)
        if self.sync_commands:
            await self.tree.sync()

    async def direct_message(self, user_id: int, text: str) -> None:
        user = await self.backoff.run(lambda: self.fetch_user(user_id), transient_or_503)
        for part in chunks(text):
            # With a nonce Discord keeps one message should a retry repeat a send it took.
            nonce = secrets.randbits(63)
            await self.backoff.run(lambda part=part, nonce=nonce: user.send(part, nonce=nonce),
                                   transient_or_503)

    # ----- what users do ---------------------------------------------------------------

    async def on_command(self, interaction: discord.Interaction, command: Command,
                         values: dict[str, Any]) -> None:
        """A slash command: its typed options go to the core as they are; an attached file
        (``/import``) goes as its bytes."""
        private = command.personal and interaction.guild_id is not None
        attached = [values.pop(p.option) for p in command.params
                    if p.kind == "file" and values.get(p.option) is not None]
        async with self._delivery(interaction):
            if attached:
                replies, answered = await self._upload(interaction, private, attached[0])
            else:
                replies, answered = await self._in_time(
                    interaction, private, self.conversation.handle_command, command.name,
                    values)
            await self._respond(interaction, replies, private, answered)

    async def _upload(self, interaction: discord.Interaction, private: bool,
                      attachment: discord.Attachment) -> tuple[list[Reply], bool]:
        """Fetch the file (not when over the limit) and import it; always deferred first,
        since fetching and matching a long history can outlast Discord's 3 seconds."""
        await self._call(lambda: interaction.response.defer(ephemeral=private), answers=True)
        size = attachment.size
        try:
            data = b"" if size > MAX_BYTES else await self.backoff.run(attachment.read,
                                                                      transient)
        except (discord.HTTPException, *NETWORK_ERRORS) as exc:
            log.warning("download for interaction %s failed: %s", interaction.id,
                        describe_error(exc, interaction.token, self.http.token))
            return [Reply("I couldn't fetch that file from Discord. Please try again.")], True
        replies = await asyncio.to_thread(self.conversation.handle_upload, user_of(interaction),
                                          data, attachment.filename, size=size)
        return replies, True

    async def on_button(self, interaction: discord.Interaction, data: str) -> None:
        private = interaction.guild_id is not None
        async with self._delivery(interaction):
            replies, answered = await self._in_time(
                interaction, private, self.conversation.handle_button, data)
            first, rest = replies[0], replies[1:]
            if first.edit:
                await self._edit(interaction, first, answered)
                answered = True
            else:
                rest = replies
            await self._respond(interaction, rest, private, answered)

    async def title_choices(self, _interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
        """Autocomplete for title options, from the same index the core matches with."""
        if not current.strip():
            return []
        match = await asyncio.to_thread(self.conversation.title_index.search, current[:200],
                                        CHOICES)
        choices = []
        for c in match.candidates[:CHOICES]:
            label = describe(c)[:CHOICE_TEXT]
            # The value is typed back into the core: title, year and kind pick this one.
            value = f"{c.title} {c.year or ''} {'tv' if c.kind == 'tv' else ''}"
            choices.append(app_commands.Choice(name=label, value=" ".join(value.split())
                                               [:CHOICE_TEXT]))
        return choices

    async def genre_choices(self, _interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
        names = self.conversation.recommender.genre_names
        wanted = current.strip().lower()
        hits = [g for g in names if g.lower().startswith(wanted)] + \
               [g for g in names if wanted in g.lower() and not g.lower().startswith(wanted)]
        return [app_commands.Choice(name=g[:CHOICE_TEXT], value=g[:CHOICE_TEXT])
                for g in hits[:CHOICES]]

    async def on_command_error(self, interaction: discord.Interaction,
                               error: app_commands.AppCommandError) -> None:
        log.error("command failed: %s", type(error).__name__, exc_info=error)
        apology = Reply("Sorry, something went wrong on my side and nothing was changed. "
                        "Please try again.")
        async with self._delivery(interaction):  # after a deferral, as its followup
            await self._respond(interaction, [apology], True,
                                interaction.response.is_done())

    # ----- answering, in time and through faults ----------------------------------------

    async def _in_time(self, interaction: discord.Interaction, private: bool,
                       handle: Callable[..., list[Reply]], *args: Any
                       ) -> tuple[list[Reply], bool]:
        """The core's replies, and whether the interaction was acknowledged meanwhile.

        Discord drops an interaction not acknowledged within 3 seconds, so work that takes
        longer than ``defer_after`` is deferred first: a command shows "thinking…", a button
        nothing, and the replies follow (within 15 minutes)."""
        work = asyncio.ensure_future(asyncio.to_thread(handle, user_of(interaction), *args))
        done, _ = await asyncio.wait({work}, timeout=self.defer_after)
        if done:
            return work.result(), False
        try:
            await self._call(lambda: interaction.response.defer(ephemeral=private),
                             answers=True)
        finally:
            replies = await work  # the core finishes what it started either way
        return replies, True

    async def _respond(self, interaction: discord.Interaction, replies: list[Reply],
                       private: bool, answered: bool = False) -> None:
        """Each message in order: the first answers the interaction unless that was done,
        the rest are followups."""
        for kwargs in [kwargs for reply in replies for kwargs in messages_of(reply)]:
            if answered:
                await self._call(lambda kwargs=kwargs: interaction.followup.send(
                    ephemeral=private, **_attached(kwargs)))
            else:
                await self._call(lambda kwargs=kwargs: interaction.response.send_message(
                    ephemeral=private, **_attached(kwargs)), answers=True)
                answered = True

    async def _edit(self, interaction: discord.Interaction, reply: Reply,
                    deferred: bool) -> None:
        """A page replaces the message its button was on."""
        [page] = messages_of(reply)[-1:]
        page.setdefault("content", None)
        page.setdefault("embed", None)
        page.setdefault("view", None)
        if deferred:
            await self._call(lambda: interaction.edit_original_response(**page))
        else:
            await self._call(lambda: interaction.response.edit_message(**page), answers=True)

    async def _call(self, call: Callable[[], Awaitable[object]], *,
                    answers: bool = False) -> None:
        """``call`` with retries; :class:`ReplyLost` when it fails for good.

        ``answers``: it acknowledges the interaction. Should a retry find it acknowledged,
        an earlier try got through and only Discord's answer was lost on the way back. A
        followup has no such guard (webhooks take no nonce): when the connection drops after
        Discord took one, the retry shows it twice, which beats losing it."""
        try:
            await self.backoff.run(call, transient)
        except discord.HTTPException as exc:
            if not (answers and exc.code == ALREADY_ACKNOWLEDGED):
                raise ReplyLost(exc) from exc
        except NETWORK_ERRORS as exc:
            raise ReplyLost(exc) from exc

    @contextlib.asynccontextmanager
    async def _delivery(self, interaction: discord.Interaction) -> AsyncIterator[None]:
        """Replies that fail for good end here, as one log line (the core's own errors go
        on to :meth:`on_command_error`, which apologises)."""
        try:
            yield
        except ReplyLost as lost:
            log.warning("reply to interaction %s lost: %s", interaction.id,
                        describe_error(lost.__cause__ or lost, interaction.token,
                                       self.http.token))


def add_commands(bot: DiscordBot) -> None:
    """Every registered command as a slash command: options typed, titles autocompleted."""
    for declared in bot.conversation.commands:
        bot.tree.add_command(slash_command(bot, declared))


def option_type(param: Param) -> Any:
    """The annotation discord.py turns into the option's type and limits."""
    return {"title": app_commands.Range[str, 1, 200],
            "stars": app_commands.Range[float, 0.5, 5.0],
            "count": app_commands.Range[int, 1, MAX_COUNT],
            "kind": Literal["movie", "tv"],
            "choice": Literal[param.choices] if param.choices else str,
            "file": discord.Attachment,
            }.get(param.kind, app_commands.Range[str, 1, 200])


def slash_command(bot: DiscordBot, declared: Command) -> app_commands.Command:
    """One declaration as an app command whose callback signature is its options."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await bot.on_command(interaction, declared, values)

    options = [inspect.Parameter(
        p.option, inspect.Parameter.KEYWORD_ONLY,
        annotation=option_type(p) if p.required else Optional[option_type(p)],  # noqa: UP045
        default=inspect.Parameter.empty if p.required else None) for p in declared.params]
    callback.__signature__ = inspect.Signature([inspect.Parameter(
        "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=discord.Interaction), *options])
    callback.__discord_app_commands_param_description__ = {
        p.option: p.help[:100] for p in declared.params}
    cmd = app_commands.Command(name=declared.name, description=declared.help[:100],
                               callback=callback)
    completers = {"title": bot.title_choices, "genre": bot.genre_choices}
    for p in declared.params:
        if p.kind in completers:
            cmd.autocomplete(p.option)(completers[p.kind])
    return cmd


async def serve_discord(conversation: Conversation, token: str, stop: asyncio.Event) -> None:
    """Run the Discord bot until ``stop`` is set (or the connection fails for good)."""
    bot = DiscordBot(conversation)
    log.info("starting the Discord bot")
    async with bot:
        await bot.login(token)  # discord.LoginFailure for a bad token
        running = asyncio.create_task(bot.connect())
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running in done:
            running.result()  # the gateway gave up: raise why
        else:
            running.cancel()
