"""The Discord adapter end to end: the real discord.py against a fake Discord API on
127.0.0.1 (`tests/fake_discord.py`); only the websocket gateway is not exercised.

One user journey over HTTP, `make run` as a process, and the contract shared with
Telegram: every command is reachable on both, and a scripted conversation reads the same
on both. Everything else the adapter does is tested at the library's request layer in
``tests/test_discord_adapter.py``.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from telegram.ext import CommandHandler

from bot.core import COMMANDS, Conversation
from bot.discord import DiscordBot
from bot.telegram import build_application
from storage import Storage
from tests.bot_model import small_model
from tests.fake_discord import FakeDiscord, connect, dispatch
from tests.fake_telegram import FakeTelegram, run_bot

ANN, ADMIN = 1001, 4242
NAMES = {ANN: "ann", ADMIN: "root"}  # Discord shows global names: "Ann"


@pytest.fixture
def conversation(chat_with):
    return chat_with(ADMIN)


def run(conversation: Conversation, scenario) -> None:
    with FakeDiscord() as fake:
        bot = DiscordBot(conversation)

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
          ("movienight", {}, "movienight"), ("stats", {}, "stats"),
          ("retrain", {}, "retrain"), ("rollback", {}, "rollback"), ("forget", {}, "forget")]


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
    for name_step, discord_lines, telegram_lines in zip(SCRIPT, on_discord, on_telegram,
                                                        strict=True):
        assert sorted(discord_lines) == sorted(telegram_lines), name_step[0]


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
