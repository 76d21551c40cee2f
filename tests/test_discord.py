"""The Discord adapter's rendering at limits no conversation reaches with the small model:
more cards than an embed holds, more buttons than a message holds.

Everything a user does is tested through discord.py in ``tests/test_discord_adapter.py``
(request layer) and ``tests/test_discord_e2e.py`` (a fake Discord API over HTTP).
"""

from __future__ import annotations

from bot.discord import embed_of, messages_of, view_of
from bot.payloads import Like, MorePicks
from bot.replies import Button, Card, Reply


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
