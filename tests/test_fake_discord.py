"""The fake Discord REST API drives the real discord.py (no discord.py mocks), as far as the
end-to-end journey needs it: login, command sync, slash commands with typed options, embeds,
persistent ``DynamicItem`` buttons that edit their message, deferrals and followups,
Discord's refusals, and the faults of a network: what discord.py does about them by itself.

A tiny bot is defined here (not our adapter).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal

import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.fake_discord import (
    RESET,
    FakeDiscord,
    connect,
    dispatch,
    library_waits,
    rate_limited,
    server_error,
    settle,
)


class PickButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pick:(?P<movie>\d+)"):
    """Persistent button: its state lives in the custom_id, so it survives restarts."""

    def __init__(self, movie: int) -> None:
        super().__init__(discord.ui.Button(label=f"Pick {movie}", custom_id=f"pick:{movie}"))
        self.movie = movie

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> PickButton:
        return cls(int(match["movie"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"{interaction.user.name} picked {self.movie}", view=None)


def build_bot() -> tuple[discord.Client, app_commands.CommandTree]:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    client.add_dynamic_items(PickButton)

    @tree.command(description="Recommend movies")
    async def recommend(interaction: discord.Interaction, genre: str, count: int = 3,
                        kind: Literal["movie", "tv"] = "movie") -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(PickButton(1))
        view.add_item(PickButton(2))
        embed = discord.Embed(title=f"{count} {genre} {kind}s for you")
        embed.add_field(name="1. Heat (1995)", value="because you liked Ronin")
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @tree.command(description="Echo")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text)

    @tree.command(description="Breaks")
    async def broken(interaction: discord.Interaction) -> None:
        raise RuntimeError("boom")

    @tree.command(description="Echo twice, after thinking")
    async def later(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True)
        await interaction.followup.send(text)
        await interaction.followup.send(f"{text} again")

    @tree.command(description="Follows up on nothing")
    async def orphan(interaction: discord.Interaction) -> None:
        await interaction.followup.send("too soon")

    return client, tree


Scenario = Callable[[discord.Client], Awaitable[None]]


def run(fake: FakeDiscord, scenario: Scenario) -> None:
    """Run ``scenario`` with a fresh bot logged in to ``fake`` and its commands synced."""

    async def main() -> None:
        client, tree = build_bot()
        async with connect(client, fake):
            await tree.sync()
            await scenario(client)

    asyncio.run(main())


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    base = Route.BASE
    with FakeDiscord() as fake:
        yield fake
    assert base == Route.BASE, "Route.BASE leaked"


def test_login_and_sync_record_the_commands_with_option_types(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client) -> None:
        assert fake.base_url == Route.BASE
        assert client.user is not None and client.user.id == fake.application_id
        assert client.application_id == fake.application_id and client.is_ready()

    run(fake, scenario)
    commands = {c["name"]: c for c in fake.commands()}
    assert sorted(commands) == ["broken", "echo", "later", "orphan", "recommend"]
    assert [(o["name"], o["type"], o.get("required", False))
            for o in commands["recommend"]["options"]] == [
        ("genre", 3, True), ("count", 4, False), ("kind", 3, False)]
    assert [c["name"] for c in fake.calls()] == ["get_me", "application_info",
                                                 "sync_global_commands"]


def test_slash_command_embed_and_a_button_that_edits_after_a_restart(fake: FakeDiscord) -> None:
    async def first(client: discord.Client) -> None:
        payload = fake.slash("recommend", {"genre": "Drama", "count": 5}, user_id=1001)
        assert payload["data"]["options"] == [
            {"name": "genre", "type": 3, "value": "Drama"},
            {"name": "count", "type": 4, "value": 5}]
        await dispatch(client, payload)
        body = await fake.response(payload)
        assert body["type"] == 4 and body["data"]["flags"] == 1 << 6
        assert body["data"]["embeds"][0]["title"] == "5 Drama movies for you"
        assert [b["custom_id"] for b in body["data"]["components"][0]["components"]] == [
            "pick:1", "pick:2"]

    run(fake, first)
    picker = fake.last_message()
    assert fake.calls("interaction_callback")[0]["query"] == {"with_response": "1"}

    async def restarted(client: discord.Client) -> None:  # a new process, the old message
        press = fake.press("pick:2", picker, user_id=1001, user_name="bob")
        await dispatch(client, press)
        body = await fake.response(press)
        assert body["type"] == 7
        assert body["data"]["content"] == "bob picked 2" and body["data"]["components"] == []

    run(fake, restarted)
    edited = fake.last_message()
    assert edited["id"] == picker["id"] and edited["content"] == "bob picked 2"
    assert edited["components"] == [] and edited["edited_timestamp"] is not None
    with pytest.raises(ValueError, match="no button 'pick:1'"):
        fake.press("pick:1", edited, user_id=1001)  # the buttons are gone
    with pytest.raises(ValueError, match="cannot see"):
        fake.press("pick:1", picker, user_id=1002)  # someone else's DM


def test_builders_refuse_what_discord_clients_cannot_send(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client) -> None:
        with pytest.raises(ValueError, match="not registered"):
            fake.slash("nope", user_id=1)
        with pytest.raises(ValueError, match=r"missing required options \['genre'\]"):
            fake.slash("recommend", {"count": 2}, user_id=1)
        with pytest.raises(ValueError, match=r"unknown options \['cuont'\]"):
            fake.slash("recommend", {"genre": "x", "cuont": 2}, user_id=1)
        with pytest.raises(ValueError, match="cannot take '2'"):
            fake.slash("recommend", {"genre": "x", "count": "2"}, user_id=1)
        with pytest.raises(ValueError, match="cannot take 'film'"):
            fake.slash("recommend", {"genre": "x", "kind": "film"}, user_id=1)

    run(fake, scenario)


def test_fake_rejects_what_discord_rejects(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client) -> None:
        too_long = fake.slash("echo", {"text": "x" * 2001}, user_id=1001)
        await dispatch(client, too_long)
        await settle(client)
        with pytest.raises(AssertionError, match="callback was rejected: 400"):
            await fake.response(too_long)

        payload = fake.slash("echo", {"text": "hi"}, user_id=1001)
        await dispatch(client, payload)
        await fake.response(payload)
        await dispatch(client, payload)  # delivered twice: the second answer is refused

        forged = {**fake.slash("echo", {"text": "hi"}, user_id=1001), "token": "forged"}
        await dispatch(client, forged)
        await settle(client)

    run(fake, scenario)
    statuses = [(c["status"], c["response"].get("code"))
                for c in fake.calls("interaction_callback")]
    assert statuses == [(400, 50035), (200, None), (400, 40060), (404, 10062)]
    assert fake.calls("interaction_callback")[0]["response"]["errors"] == {
        "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                 "message": "Must be 2000 or fewer in length."}]}}
    assert len(fake.library_errors) == 3  # the tree logged each failed command
    assert fake.last_message()["content"] == "hi"


def test_errors_in_handlers_are_collected_and_fail_waits_fast(fake: FakeDiscord) -> None:
    """A wait for an interaction whose handler raised fails on the error, not on its
    ceiling, whether the error is logged before or after the wait begins."""
    fails_fast = r"discord.py logged an error while 1 call\(s\) of interaction_callback"

    async def scenario(client: discord.Client) -> None:
        during = fake.slash("broken", user_id=1001)
        await dispatch(client, during)
        with pytest.raises(AssertionError, match=f"{fails_fast}.*boom"):
            await fake.wait("interaction_callback", interaction=during)
        before = fake.slash("broken", user_id=1001)
        await dispatch(client, before)
        await settle(client)  # the error is logged before the wait begins
        assert len(fake.library_errors) == 2
        with pytest.raises(AssertionError, match=f"{fails_fast}.*boom"):
            await fake.wait("interaction_callback", interaction=before)
        fine = fake.slash("echo", {"text": "still here"}, user_id=1001)
        await dispatch(client, fine)  # earlier errors are not this interaction's
        assert (await fake.response(fine))["data"]["content"] == "still here"

    run(fake, scenario)
    assert all("RuntimeError: boom" in e for e in fake.library_errors)


def test_a_deferred_answer_is_replaced_by_its_first_followup(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client) -> None:
        payload = fake.slash("later", {"text": "hi"}, user_id=1001)
        await dispatch(client, payload)
        assert await fake.response(payload) == {"type": 5, "data": {"flags": 1 << 6}}
        await settle(client)
        thinking, again = fake.answer(payload)
        assert (thinking["content"], thinking["flags"]) == ("hi", 1 << 6)  # no longer loading
        assert again["content"] == "hi again"
        orphan = fake.slash("orphan", user_id=1001)
        await dispatch(client, orphan)
        await settle(client)
        [refused] = fake.calls("followup", interaction=orphan)
        assert (refused["status"], refused["response"]["code"]) == (404, 10015)

    run(fake, scenario)
    assert [c["name"] for c in fake.calls()][-4:] == [
        "interaction_callback", "followup", "followup", "followup"]
    [error] = fake.library_errors
    assert "Unknown Webhook" in error


def test_discord_py_waits_out_429s_and_retries_5xx_but_not_a_reset(fake: FakeDiscord) -> None:
    """What discord.py does by itself for interaction replies: a 429 is waited out as long
    as its ``retry_after`` says, a 5xx retried after 1 s, a reset connection (Linux's
    ECONNRESET) raised at once."""

    async def echo(client: discord.Client, text: str) -> dict:
        payload = fake.slash("echo", {"text": text}, user_id=1001)
        await dispatch(client, payload)
        await settle(client)
        return payload

    async def scenario(client: discord.Client) -> None:
        fake.fail("interaction_callback", rate_limited(0.05))
        limited = await echo(client, "after a 429")
        assert [c["status"] for c in fake.calls(interaction=limited)] == [429, 200]
        assert (await fake.response(limited))["data"]["content"] == "after a 429"
        fake.fail("interaction_callback", server_error(503), server_error(502))
        with library_waits() as waits:
            failing = await echo(client, "after two 5xx")
        assert [c["status"] for c in fake.calls(interaction=failing)] == [503, 502, 200]
        assert waits == [1, 3]
        fake.fail("interaction_callback", RESET)
        reset = await echo(client, "lost")
        assert [c["status"] for c in fake.calls(interaction=reset)] == [0]  # not retried

    run(fake, scenario)
    [error] = fake.library_errors
    assert "Connection reset by peer" in error
