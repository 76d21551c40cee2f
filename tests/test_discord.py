"""The Discord adapter: what Discord's limits and a user's view of a reply require.

End-to-end tests through the real discord.py against a fake Discord API are in
``tests/test_discord_e2e.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.core import COMMANDS, Conversation
from bot.payloads import Like, MorePicks
from bot.replies import Button, Card, Reply
from bot.discord import DiscordBot, chunks, embed_of, messages_of, view_of
from storage import Storage
from tests.bot_model import small_model


@pytest.fixture
def bot(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3")
    yield DiscordBot(Conversation(small_model(), storage), sync_commands=False)
    storage.close()


def test_every_core_command_is_a_slash_command(bot):
    names = {c.name for c in bot.tree.get_commands()}
    assert names == {c.name for c in COMMANDS}
    params = {c.name: {p.name: p for p in c.parameters} for c in bot.tree.get_commands()}
    assert params["like"]["title"].autocomplete and params["like"]["title"].required
    assert params["rate"]["stars"].type.name == "number"
    assert (params["rate"]["stars"].min_value, params["rate"]["stars"].max_value) == (0.5, 5.0)
    recommend = params["recommend"]
    assert recommend["count"].type.name == "integer" and not recommend["count"].required
    assert [c.value for c in recommend["kind"].choices] == ["movie", "tv"]
    assert recommend["genre"].autocomplete
    assert [c.value for c in params["movienight"]["action"].choices] == ["pick", "join", "leave"]


def test_title_autocomplete_uses_the_title_index(bot):
    choices = asyncio.run(bot.title_choices(None, "godfahter"))
    assert [c.name for c in choices][:2] == ["The Godfather (1972)",
                                             "The Godfather: Part II (1974)"]
    assert choices[0].value == "The Godfather 1972"
    tv = asyncio.run(bot.title_choices(None, "breaking bad"))
    assert tv[0].name == "Breaking Bad (2008) [TV]" and tv[0].value == "Breaking Bad 2008 tv"
    assert asyncio.run(bot.title_choices(None, "   ")) == []
    assert len(asyncio.run(bot.title_choices(None, "e" * 5000))) <= 25
    genres = asyncio.run(bot.genre_choices(None, "rom"))
    assert [g.value for g in genres] == ["Romance"]


def test_long_text_is_split_under_2000_and_never_pings():
    text = "\n".join(f"{i}. @everyone *Title* " * 12 for i in range(300))
    parts = chunks(text)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert "@everyone" not in "".join(parts) and "\\*Title\\*" in parts[0]
    assert [len(p) for p in chunks("x" * 4500)] == [2000, 2000, 500]


def test_lists_become_embeds_within_discord_limits():
    cards = [Card(f"{i}. {'Very long title ' * 30}", "because you liked " + "X" * 2000, i)
             for i in range(1, 40)]
    embed = embed_of(Reply("Picks for you:", cards=cards))
    assert embed.title == "Picks for you:"
    assert len(embed.fields) <= 25 and len(embed) <= 6000
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)


def test_buttons_are_repacked_into_five_rows_of_five():
    rows = [[Button(f"{i} {e}", Like(i)) for e in "👍👎➕✔"] for i in range(1, 6)]
    rows.append([Button("More picks ▶", MorePicks())])
    view = view_of(rows)
    assert len(view.children) == 21
    assert max(item.row for item in view.children) == 4
    assert view.children[0].item.custom_id == "core:like:1"
    too_many = view_of([[Button(str(i), Like(i)) for i in range(40)]])
    assert len(too_many.children) == 25
    assert view_of([]) is None
    [send] = messages_of(Reply("Hi", buttons=rows))
    assert send["content"] == "Hi" and send["view"] is not None
