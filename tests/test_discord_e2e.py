"""The Discord adapter end to end: the real discord.py against a fake Discord API on
127.0.0.1 (`tests/fake_discord.py`); only the websocket gateway is not exercised.

One user journey over HTTP, `make run` as a process, the contract shared with Telegram
(every command is reachable on both, and a scripted conversation reads the same on both),
and the network's faults: 429s, 5xx, reset connections and refusals on the first answer,
on deferrals, on followups and on DMs, through discord.py's own retries and the adapter's.
Everything else the adapter does is tested at the library's request layer in
``tests/test_discord_adapter.py``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from dataclasses import replace

import pytest
from telegram.ext import CommandHandler

from bot.core import COMMANDS, Conversation
from bot.discord import DISCORD_BACKOFF, DiscordBot
from bot.telegram import build_application
from storage import Storage
from tests.bot_model import small_model
from tests.fake_discord import (
    LOST_ANSWER,
    RESET,
    FakeDiscord,
    Fault,
    connect,
    dispatch,
    library_waits,
    rate_limited,
    refused,
    server_error,
    settle,
)
from tests.fake_telegram import FakeTelegram, run_bot

ANN, BOB, ADMIN = 1001, 1002, 4242
NAMES = {ANN: "ann", BOB: "bob", ADMIN: "root"}  # Discord shows global names: "Ann"
THINKING = 5  # the callback type of a deferral
# The adapter's retries, without waiting for them.
FAULTY = {"backoff": replace(DISCORD_BACKOFF, first=0.01)}


@pytest.fixture
def conversation(chat_with):
    return chat_with(ADMIN)


def run(conversation: Conversation, scenario, **options) -> None:
    """``scenario(fake, bot)`` with a bot logged in to a fresh fake. Unless ``options`` say
    otherwise answers are never deferred, so each one is in its callback however loaded
    the machine is."""
    with FakeDiscord() as fake:
        bot = DiscordBot(conversation, **{"defer_after": None, **options})

        async def main() -> None:
            async with connect(bot, fake):
                await scenario(fake, bot)

        asyncio.run(main())


def lines_of(message: dict) -> list[str]:
    """What a user reads in a Discord message (its text or its embed), markdown rendered:
    a backslash-escaped character shows as itself."""
    if message.get("content"):
        lines = message["content"].split("\n")
    else:
        embed = message["embeds"][0]
        lines = [embed["title"], *(embed.get("description") or "").split("\n")]
        for f in embed.get("fields", []):
            lines += [f["name"], f["value"]]
    return [re.sub(r"\\(.)", r"\1", x.strip()) for x in lines if x.strip()]


def links_apart(lines: list[str]) -> tuple[list[str], set[str]]:
    """Lines as read, and the links they carry: Discord's "· [IMDb](url)" and "IMDb: <url>",
    Telegram's <a href="url">heading</a>, each platform's way to link a title."""
    link = re.compile(r'\[IMDb\]\((\S+?)\)|<a href="([^"]+)">|^IMDb: <(\S+)>$')
    found: set[str] = set()
    plain = []
    for line in lines:
        found |= {url for groups in link.findall(line) for url in groups if url}
        line = re.sub(r' · \[IMDb\]\(\S+?\)|<a href="[^"]+">|</a>', "", line)
        if not re.fullmatch(r"IMDb: <\S+>", line):
            plain.append(line)
    return plain, found


async def say(fake: FakeDiscord, bot: DiscordBot, name: str, options: dict | None = None,
              user_id: int = ANN) -> dict:
    payload = fake.slash(name, options, user_id=user_id, user_name=NAMES[user_id])
    await dispatch(bot, payload)
    return (await fake.response(payload))["data"]


async def press(fake: FakeDiscord, bot: DiscordBot, message: dict, label: str,
                user_id: int = ANN) -> dict:
    custom_id = next(b["custom_id"] for row in message["components"]
                     for b in row["components"] if label in b["label"])
    payload = fake.press(custom_id, message, user_id=user_id, user_name=NAMES[user_id])
    await dispatch(bot, payload)
    return await fake.response(payload)


def test_a_user_journey_in_direct_messages(conversation):
    async def scenario(fake, bot):
        synced = {c["name"]: c for c in fake.commands()}
        assert set(synced) == {c.name for c in COMMANDS}
        ambiguous = await say(fake, bot, "like", {"title": "godfather"})
        assert ambiguous["content"].startswith('Several titles match "godfather"')
        liked = await press(fake, bot, fake.last_message(), "The Godfather (1972)")
        assert liked["data"]["content"].startswith("❤ Liked The Godfather (1972)")
        picks = await say(fake, bot, "recommend", {"count": 3, "kind": "movie"})
        embed = picks["embeds"][0]
        assert embed["title"] == "Picks for you:" and len(embed["fields"]) == 3
        assert embed["fields"][0]["name"] == "1. The Godfather: Part II (1974) · Crime, Drama"
        assert embed["fields"][0]["value"] == "because you liked The Godfather"
        thumbs = await press(fake, bot, fake.last_message(), "1 👍")
        assert "Liked The Godfather: Part II" in thumbs["data"]["content"]
        await say(fake, bot, "watch", {"title": "alien 1979"})
        await say(fake, bot, "watch", {"title": "fargo"})
        listing = await say(fake, bot, "watchlist")
        assert "Alien (1979)" in listing["content"] and "Fargo (1996)" in listing["content"]
        removed = await press(fake, bot, fake.last_message(), "✖")
        assert removed["type"] == 7  # the list is edited in place
        why = await say(fake, bot, "why", {"title": "fargo"})
        assert "because you liked" in why["content"]

    run(conversation, scenario)


SCRIPT = [("start", {}, "start"), ("like", {"title": "star wars"}, "like star wars"),
          ("dislike", {"title": "titanic"}, "dislike titanic"),
          ("rate", {"title": "fargo", "stars": 4.0}, "rate fargo 4"),
          ("likes", {}, "likes"), ("recommend", {"count": 3}, "recommend 3"),
          ("more", {}, "more"), ("similar", {"title": "alien 1979"}, "similar alien 1979"),
          ("why", {"title": "aliens"}, "why aliens"), ("watch", {"title": "dune 2021"},
                                                        "watch dune 2021"),
          ("watchlist", {}, "watchlist"), ("unwatch", {"title": "dune 2021"}, "unwatch dune 2021"),
          ("unlike", {"title": "star wars"}, "unlike star wars"), ("help", {}, "help"),
          ("import", {}, "import"), ("export", {}, "export"), ("link", {}, "link"),
          ("movienight", {}, "movienight"), ("stats", {}, "stats"),
          ("retrain", {}, "retrain"), ("rollback", {}, "rollback"), ("forget", {}, "forget")]


def same_code(lines: list[str]) -> list[str]:
    """/link's one-time code is random on each platform: read it as one placeholder."""
    return [re.sub(r"\b[A-Z2-9]{4}-[A-Z2-9]{4}\b", "CODE", line) for line in lines]


def test_the_same_conversation_reads_the_same_on_telegram_and_discord(tmp_path):
    """The contract both adapters share: every core command, the same replies."""
    assert {s[0] for s in SCRIPT} == {c.name for c in COMMANDS}
    on_discord: list[list[str]] = []
    on_telegram: list[list[str]] = []

    storage = Storage(tmp_path / "discord.sqlite3")
    discord_side = Conversation(small_model(), storage, clock=lambda: 0.0)
    slash_commands = {c.name for c in DiscordBot(discord_side).tree.get_commands()}
    assert slash_commands == {name for name, _options, _text in SCRIPT}

    async def discord_scenario(fake, bot):
        for name, options, _text in SCRIPT:
            data = await say(fake, bot, name, options or None)
            on_discord.append(lines_of(data))

    run(discord_side, discord_scenario)
    storage.close()

    storage = Storage(tmp_path / "telegram.sqlite3")
    telegram_side = Conversation(small_model(), storage, clock=lambda: 0.0)
    with FakeTelegram() as fake:
        async def telegram_scenario():
            for i, (_name, _options, text) in enumerate(SCRIPT, 1):
                fake.send_text(f"/{text}")
                calls = await asyncio.to_thread(fake.wait_for, "sendMessage", i)
                raw = html.unescape(calls[-1]["params"]["text"])
                on_telegram.append([x.strip() for x in raw.split("\n") if x.strip()])

        app = build_application(telegram_side, fake.token, fake.api_url)
        commands = {c for handlers in app.handlers.values() for h in handlers
                    if isinstance(h, CommandHandler) for c in h.commands}
        assert commands == slash_commands
        run_bot(app, telegram_scenario)
    storage.close()
    linked: set[str] = set()
    for name_step, discord_lines, telegram_lines in zip(SCRIPT, on_discord, on_telegram,
                                                        strict=True):
        discord_text, discord_links = links_apart(same_code(discord_lines))
        telegram_text, telegram_links = links_apart(same_code(telegram_lines))
        assert sorted(discord_text) == sorted(telegram_text), name_step[0]
        assert discord_links == telegram_links, name_step[0]
        linked |= discord_links
    assert linked == {"https://www.imdb.com/title/tt0068646/"}  # The Godfather, a pick


def test_make_run_with_both_tokens_keeps_telegram_up_when_discord_fails(tmp_path):
    """`python -m bot` with both tokens runs both; Discord is unreachable from this machine,
    so it reports one line (no token) and Telegram keeps answering."""
    from tests.bot_model import BotProcess, bot_env

    discord_token = "MTAx.Gxyz.secret-discord-token"
    with FakeTelegram() as fake:
        env = bot_env(tmp_path, TELEGRAM_TOKEN=fake.token, DISCORD_TOKEN=discord_token,
                      TELEGRAM_API_BASE_URL=fake.api_url)
        with BotProcess(env, tmp_path) as bot:
            fake.send_text("/like star wars")
            [call] = fake.wait_for("sendMessage", 1, timeout=60)
            assert "Liked Star Wars (1977)" in call["params"]["text"]
    assert bot.returncode == 2
    assert "error: Discord: " in bot.err
    assert discord_token not in bot.out + bot.err and fake.token not in bot.out + bot.err


# -- the network's faults ----------------------------------------------------------------


class SlowCore:
    """The core answering an interaction only once the bot has sent its first callback for
    it (the deferral): as slow as an answer can be, without a clock. The bot defers such an
    answer as soon as the core is slow at all (``defer_after=0``)."""

    def __init__(self, fake: FakeDiscord, conversation: Conversation) -> None:
        self.fake, self.payload = fake, None
        for name in ("handle_command", "handle_button"):
            setattr(conversation, name, self._held(getattr(conversation, name)))

    def _held(self, handle):
        def held(user, *args):
            if self.payload is not None:
                self.fake.wait_for("interaction_callback", interaction=self.payload)
            return handle(user, *args)
        return held


async def asked(fake: FakeDiscord, bot: DiscordBot, name: str, options: dict | None = None,
                user_id: int = ANN, slow: SlowCore | None = None) -> tuple[dict, list[dict]]:
    """``/name`` once the bot is done with it: the payload, and what the user sees."""
    payload = fake.slash(name, options, user_id=user_id, user_name=NAMES[user_id])
    return payload, await answered(fake, bot, payload, slow)


async def pressed(fake: FakeDiscord, bot: DiscordBot, message: dict, label: str,
                  slow: SlowCore | None = None) -> tuple[dict, list[dict]]:
    custom_id = next(b["custom_id"] for row in message["components"]
                     for b in row["components"] if label in b["label"])
    payload = fake.press(custom_id, message, user_id=ANN)
    return payload, await answered(fake, bot, payload, slow)


async def answered(fake: FakeDiscord, bot: DiscordBot, payload: dict,
                   slow: SlowCore | None) -> list[dict]:
    if slow is not None:
        slow.payload = payload
    bot.defer_after = None if slow is None else 0.0
    await dispatch(bot, payload)
    await settle(bot)
    return fake.answer(payload)


def statuses(fake: FakeDiscord, payload: dict) -> list[tuple[str, int]]:
    return [(c["name"], c["status"]) for c in fake.calls(interaction=payload)]


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Tracebacks and lost replies in the log."""
    return [r.getMessage() for r in caplog.records if r.exc_info or "lost" in r.getMessage()]


def test_a_429_on_the_first_answer_is_waited_out_and_the_reply_arrives(conversation, caplog):
    async def scenario(fake, bot):
        fake.fail("interaction_callback", rate_limited(0.05))
        liked, [reply] = await asked(fake, bot, "like", {"title": "star wars"})
        assert reply["content"].startswith("❤ Liked Star Wars (1977)")
        assert statuses(fake, liked) == [("interaction_callback", 429),
                                         ("interaction_callback", 200)]
        await asked(fake, bot, "like", {"title": "godfather"})
        fake.fail("interaction_callback", rate_limited(0.05, scope="global"))
        press, [chosen] = await pressed(fake, bot, fake.last_message(), "The Godfather (1972)")
        assert chosen["content"].startswith("❤ Liked The Godfather (1972)")
        assert [s for _, s in statuses(fake, press)] == [429, 200]

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    waited = [r.getMessage() for r in caplog.records if r.name == "discord.webhook.async_"]
    assert len(waited) == 2 and all("Retrying in 0.05 seconds" in w for w in waited)
    assert problems(caplog) == []


def test_a_slow_answer_is_deferred_and_follows_up_through_429s(conversation, caplog):
    async def scenario(fake, bot):
        slow = SlowCore(fake, conversation)
        fake.fail("interaction_callback", rate_limited(0.05))
        fake.fail("followup", rate_limited(0.05))
        picks, [reply] = await asked(fake, bot, "recommend", {"count": 3}, slow=slow)
        assert reply["embeds"][0]["title"] == "Picks for you:"  # "thinking…" replaced
        assert reply["flags"] == 0
        assert statuses(fake, picks) == [("interaction_callback", 429),
                                         ("interaction_callback", 200),
                                         ("followup", 429), ("followup", 200)]
        assert fake.calls(interaction=picks)[1]["json"]["type"] == THINKING
        await asked(fake, bot, "watch", {"title": "alien 1979"})
        await asked(fake, bot, "watch", {"title": "fargo"})
        _, [listing] = await asked(fake, bot, "watchlist")
        fake.fail("edit_original", rate_limited(0.05))
        press, [edited] = await pressed(fake, bot, listing, "✖", slow=slow)
        assert edited["id"] == listing["id"]  # the list, edited in place
        assert len(edited["content"].split("\n")) < len(listing["content"].split("\n"))
        assert [s for _, s in statuses(fake, press)] == [200, 429, 200]
        assert fake.calls(interaction=press)[0]["json"]["type"] == 6  # a quiet deferral

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    assert problems(caplog) == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("route", ["interaction_callback", "followup"])
def test_a_5xx_on_the_answer_or_a_followup_is_retried_and_arrives(conversation, caplog,
                                                                 route, status):
    async def scenario(fake, bot):
        slow = SlowCore(fake, conversation) if route == "followup" else None
        fake.fail(route, server_error(status))
        with library_waits() as waits:
            liked, [reply] = await asked(fake, bot, "like", {"title": "alien 1979"}, slow=slow)
        assert waits == [1]  # discord.py's own backoff: 1 + 2 * attempt seconds
        assert reply["content"].startswith("❤ Liked Alien (1979)")
        assert [s for name, s in statuses(fake, liked) if name == route] == [status, 200]

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    assert problems(caplog) == []


def test_reset_connections_are_retried_by_the_adapter(conversation, caplog):
    """discord.py raises a reset connection at once (it retries only macOS's and Windows'
    errno for it); the adapter retries. When the reset came after Discord took the first
    answer or the deferral, the retry is refused as already acknowledged: the answer is
    there, once, and the followups go on."""

    async def scenario(fake, bot):
        fake.fail("interaction_callback", LOST_ANSWER)
        liked, [reply] = await asked(fake, bot, "like", {"title": "star wars"})
        assert reply["content"].startswith("❤ Liked Star Wars (1977)")
        assert statuses(fake, liked) == [("interaction_callback", 0),
                                         ("interaction_callback", 400)]  # 40060
        slow = SlowCore(fake, conversation)
        fake.fail("interaction_callback", LOST_ANSWER)
        fake.fail("followup", RESET)
        picks, [reply] = await asked(fake, bot, "recommend", {"count": 2}, slow=slow)
        assert len(reply["embeds"][0]["fields"]) == 2
        assert [s for _, s in statuses(fake, picks)] == [0, 400, 0, 200]

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    retried = [r.getMessage() for r in caplog.records if r.name == "bot.backoff"]
    assert len(retried) == 3 and all("(ClientOSError); retrying" in r for r in retried)
    assert problems(caplog) == []


@pytest.mark.parametrize("faults, error", [
    ([refused()], "HTTPException: 400 Bad Request (error code: 50035): Invalid Form Body"),
    ([server_error(502)] * 5, "DiscordServerError: 502 Bad Gateway"),
    ([RESET] * 4, "ClientOSError: [Errno 104] Connection reset by peer"),
], ids=["refused", "5xx-five-times", "reset-four-times"])
def test_a_followup_that_fails_for_good_is_one_log_line(conversation, caplog,
                                                        faults: list[Fault], error: str):
    async def scenario(fake, bot):
        slow = SlowCore(fake, conversation)
        fake.fail("followup", *faults)
        with library_waits():
            lost, _ = await asked(fake, bot, "like", {"title": "star wars"}, slow=slow)
        assert [s for name, s in statuses(fake, lost) if name == "followup"] == [
            f.status or 0 for f in faults]
        _, [reply] = await asked(fake, bot, "like", {"title": "fargo"}, user_id=BOB)
        assert reply["content"].startswith("❤ Liked Fargo (1996)")  # the others carry on
        tokens.extend([fake.token, lost["token"]])
        ids.append(lost["id"])

    tokens: list[str] = []
    ids: list[str] = []
    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    [line] = problems(caplog)
    assert line.startswith(f"reply to interaction {ids[0]} lost: {error}")
    assert not any(r.exc_info for r in caplog.records)
    assert not any(token in caplog.text for token in tokens)


def test_admin_dms_get_through_a_global_429_a_503_and_a_reset_once(conversation, caplog):
    """DMs go through discord.py's HTTPClient, which waits out a global 429 (every request
    waits) but gives up on a 503 and a reset at once: the adapter retries those, and the
    message's nonce keeps a repeated send from showing twice."""

    async def scenario(fake, bot):
        fake.fail("get_user", server_error(503))
        fake.fail("send_message", rate_limited(0.05, scope="global"), LOST_ANSWER)
        await asyncio.to_thread(conversation.tell, None, "✅ New model *v2* is live.")
        assert [m["content"] for m in fake.dms(ADMIN)] == ["✅ New model \\*v2\\* is live."]
        assert [(c["name"], c["status"]) for c in fake.calls()
                if c["name"] in ("get_user", "send_message")] == [
            ("get_user", 503), ("get_user", 200), ("send_message", 429), ("send_message", 0),
            ("send_message", 200)]

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    said = [r.getMessage() for r in caplog.records]
    assert any("Global rate limit has been hit. Retrying in 0.05 seconds" in m for m in said)
    assert any("(DiscordServerError); retrying" in m for m in said)
    assert any("(ClientOSError); retrying" in m for m in said)
    assert not [r for r in caplog.records
                if r.exc_info or (r.levelno >= logging.WARNING and r.name.startswith("bot"))]


def test_a_failure_after_a_deferral_is_apologised_for_in_its_followup(conversation, caplog):
    async def scenario(fake, bot):
        slow = SlowCore(fake, conversation)
        held = conversation.handle_command

        def broken(user, *args):
            held(user, *args)
            raise RuntimeError("boom")  # a bug past the core's own guard

        conversation.handle_command = broken
        payload, [reply] = await asked(fake, bot, "like", {"title": "fargo"}, slow=slow)
        assert reply["content"].startswith("Sorry, something went wrong on my side")
        assert [c["name"] for c in fake.calls(interaction=payload)] == [
            "interaction_callback", "followup"]  # "thinking…", then the apology in its place

    with caplog.at_level(logging.INFO):
        run(conversation, scenario, **FAULTY)
    [failed] = [r for r in caplog.records if r.exc_info]  # a bug: its traceback, in the log
    assert failed.getMessage() == "command failed: CommandInvokeError"
