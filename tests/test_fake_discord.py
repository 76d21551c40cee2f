"""The fake Discord REST API drives the real discord.py (no discord.py mocks).

A tiny bot is defined here (not our adapter): slash commands with options, autocomplete,
persistent ``DynamicItem`` buttons, a regular ``View``, a deferred command with a followup,
an embed reply and DMs to a user id.
"""

from __future__ import annotations

import asyncio
import io
import re
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator

import discord
import pytest
from discord import app_commands
from discord.http import Route

from tests.fake_discord import EPHEMERAL, LOADING, FakeDiscord, connect, dispatch, settle

GUILD = 4242
GENRES = ["Action", "Adventure", "Animation", "Comedy", "Drama", "Horror"]


class PickButton(discord.ui.DynamicItem[discord.ui.Button], template=r"pick:(?P<movie>\d+)"):
    """Persistent button: its state lives in the custom_id, so it survives restarts."""

    def __init__(self, movie: int) -> None:
        super().__init__(discord.ui.Button(label=f"Pick {movie}", custom_id=f"pick:{movie}",
                                           style=discord.ButtonStyle.primary))
        self.movie = movie

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> PickButton:
        return cls(int(match["movie"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"{interaction.user.name} picked {self.movie}", view=None)


class InfoButton(discord.ui.DynamicItem[discord.ui.Button], template=r"info:(?P<movie>\d+)"):
    def __init__(self, movie: int) -> None:
        super().__init__(discord.ui.Button(label="Info", custom_id=f"info:{movie}"))
        self.movie = movie

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> InfoButton:
        return cls(int(match["movie"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Movie {self.movie} is great", ephemeral=True)


class MoreView(discord.ui.View):
    """A regular (non-persistent) view: handled only by the client that sent it."""

    @discord.ui.button(label="More", custom_id="more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()  # type 6: acknowledge, edit later
        await interaction.edit_original_response(content="Here are more movies")


def build_bot() -> tuple[discord.Client, app_commands.CommandTree]:
    client = discord.Client(intents=discord.Intents.none())
    tree = app_commands.CommandTree(client)
    client.add_dynamic_items(PickButton, InfoButton)

    @tree.command(description="Recommend movies")
    @app_commands.describe(genre="A genre", count="How many")
    async def recommend(interaction: discord.Interaction, genre: str, count: int = 3) -> None:
        await interaction.response.send_message(f"{count} {genre} movies for you",
                                                ephemeral=True)

    @recommend.autocomplete("genre")
    async def genre_choices(interaction: discord.Interaction,
                            current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=g, value=g.lower()) for g in GENRES
                if g.lower().startswith(current.lower())]

    @tree.command(description="Pick a movie")
    async def pick(interaction: discord.Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(PickButton(1))
        view.add_item(PickButton(2))
        view.add_item(InfoButton(1))
        await interaction.response.send_message("Pick a movie", view=view)

    @tree.command(description="Browse")
    async def browse(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Some movies", view=MoreView())

    @tree.command(description="Slow answer")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("Finally done")
        await interaction.followup.send("And one more thing")

    @tree.command(description="A movie card")
    async def card(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="Heat (1995)", description="Crime thriller")
        embed.add_field(name="Rating", value="8.3")
        embed.add_field(name="Director", value="Michael Mann", inline=False)
        await interaction.response.send_message(embed=embed)

    @tree.command(description="Admin only", guild=discord.Object(GUILD))
    @app_commands.describe(score="A score")
    async def stats(interaction: discord.Interaction, score: float) -> None:
        await interaction.response.send_message(f"score={score} guild={interaction.guild_id}")

    @tree.command(description="Rate")
    async def rate(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Rating...")
        original = await interaction.original_response()
        assert original.content == "Rating..."
        await original.edit(content="Rated 5/5")
        note = await interaction.followup.send("temporary", wait=True)
        await note.delete()

    @tree.command(description="Echo")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text)

    @tree.command(description="Breaks")
    async def broken(interaction: discord.Interaction) -> None:
        raise RuntimeError("boom")

    return client, tree


def run(fake: FakeDiscord, scenario: Callable[[discord.Client, app_commands.CommandTree],
                                              Awaitable[None]]) -> None:
    """Run ``scenario`` with a fresh bot logged in to ``fake`` and its commands synced."""

    async def main() -> None:
        client, tree = build_bot()
        async with connect(client, fake):
            await tree.sync()
            await tree.sync(guild=discord.Object(GUILD))
            await scenario(client, tree)

    asyncio.run(main())


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    base = Route.BASE
    with FakeDiscord() as fake:
        yield fake
    assert base == Route.BASE, "Route.BASE leaked"
    assert fake.errors == []


def test_login_sets_user_and_application_and_restores_route_base(fake: FakeDiscord) -> None:
    original = Route.BASE

    async def main() -> None:
        client = discord.Client(intents=discord.Intents.none())
        hooked: list[int | None] = []

        async def setup_hook() -> None:
            hooked.append(client.application_id)

        client.setup_hook = setup_hook
        async with connect(client, fake):
            assert fake.base_url == Route.BASE
            assert client.user is not None and client.user.id == fake.application_id
            assert client.user.bot
            assert client.application_id == fake.application_id
            assert client.is_ready()
            await asyncio.wait_for(client.wait_until_ready(), 1)
        assert client.is_closed()
        assert hooked == [fake.application_id]

        bad = discord.Client(intents=discord.Intents.none())
        with pytest.raises(discord.LoginFailure):
            async with connect(bad, fake, token="wrong"):
                pass

    asyncio.run(main())
    assert original == Route.BASE
    assert [c["name"] for c in fake.calls()] == ["get_me", "application_info", "get_me"]
    assert fake.calls("get_me")[-1]["status"] == 401


def test_sync_records_commands_with_option_types_and_autocomplete(fake: FakeDiscord) -> None:
    synced: dict[str, list[app_commands.AppCommand]] = {}

    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        synced["global"] = await tree.sync()

    run(fake, scenario)
    commands = {c["name"]: c for c in fake.commands()}
    assert sorted(commands) == ["broken", "browse", "card", "echo", "pick", "rate",
                                "recommend", "slow"]
    options = commands["recommend"]["options"]
    assert [(o["name"], o["type"], o.get("required", False), o.get("autocomplete", False))
            for o in options] == [("genre", 3, True, True), ("count", 4, False, False)]
    assert [(c["name"], c["options"][0]["type"]) for c in fake.commands(GUILD)] == [
        ("stats", 10)]
    # The library got the commands back with their ids, which stay stable on re-sync.
    assert {c.name: c.id for c in synced["global"]} == {
        name: int(c["id"]) for name, c in commands.items()}
    first, second = fake.calls("sync_global_commands")
    assert [c["id"] for c in first["response"]] == [c["id"] for c in second["response"]]
    assert fake.calls("sync_guild_commands")[0]["path"].endswith(f"/guilds/{GUILD}/commands")


def test_slash_command_with_string_and_integer_options_replies_ephemeral(
        fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("recommend", {"genre": "Drama", "count": 5}, user_id=1001)
        assert payload["data"]["options"] == [
            {"name": "genre", "type": 3, "value": "Drama"},
            {"name": "count", "type": 4, "value": 5}]
        assert payload["user"]["id"] == "1001" and "member" not in payload  # a DM
        await dispatch(client, payload)
        body = await fake.response(payload)
        assert body["type"] == 4
        assert body["data"]["content"] == "5 Drama movies for you"
        assert body["data"]["flags"] & EPHEMERAL

        # In a guild: the member payload, and the default for the optional integer.
        in_guild = fake.slash("recommend", {"genre": "Comedy"}, user_id=1002, guild_id=GUILD)
        assert in_guild["member"]["user"]["id"] == "1002" and "user" not in in_guild
        await dispatch(client, in_guild)
        assert (await fake.response(in_guild))["data"]["content"] == "3 Comedy movies for you"

        # A guild-only command reaches the tree with data.guild_id and a number option.
        stats = fake.slash("stats", {"score": 4.5}, user_id=1002, guild_id=GUILD)
        assert stats["data"]["guild_id"] == str(GUILD)
        await dispatch(client, stats)
        assert (await fake.response(stats))["data"]["content"] == f"score=4.5 guild={GUILD}"

    run(fake, scenario)
    assert fake.calls("interaction_callback")[0]["query"] == {"with_response": "1"}
    message = fake.messages()[0]
    assert message["content"] == "5 Drama movies for you"
    assert message["flags"] & EPHEMERAL
    assert message["channel_id"] == str(fake.dm_channel_id(1001))
    assert message["interaction_metadata"]["user"]["id"] == "1001"
    assert fake.library_errors == []


def test_builders_refuse_what_discord_clients_cannot_send(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        with pytest.raises(ValueError, match="not registered"):
            fake.slash("nope", user_id=1)
        with pytest.raises(ValueError, match="missing required"):
            fake.slash("recommend", {"count": 2}, user_id=1)
        with pytest.raises(ValueError, match="unknown option"):
            fake.slash("recommend", {"genre": "x", "cuont": 2}, user_id=1)
        with pytest.raises(ValueError, match="cannot take"):
            fake.slash("recommend", {"genre": "x", "count": "2"}, user_id=1)
        with pytest.raises(ValueError, match="no autocomplete"):
            fake.autocomplete("recommend", {}, "count", user_id=1)
        with pytest.raises(ValueError, match="not registered"):
            fake.slash("stats", {"score": 1.0}, user_id=1)  # guild command outside the guild

    run(fake, scenario)


def test_autocomplete_returns_choices(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.autocomplete("recommend", {"genre": "A", "count": 2}, "genre",
                                    user_id=1001, guild_id=GUILD)
        assert payload["type"] == 4
        assert payload["data"]["options"][0] == {"name": "genre", "type": 3, "value": "A",
                                                 "focused": True}
        await dispatch(client, payload)
        body = await fake.response(payload)
        assert body == {"type": 8, "data": {"choices": [
            {"name": "Action", "value": "action"},
            {"name": "Adventure", "value": "adventure"},
            {"name": "Animation", "value": "animation"}]}}

    run(fake, scenario)
    assert fake.messages() == []  # autocomplete shows nothing in the channel


def test_dynamic_buttons_edit_and_reply_and_survive_a_restart(fake: FakeDiscord) -> None:
    async def first_run(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("pick", user_id=1001, guild_id=GUILD)
        await dispatch(client, payload)
        body = await fake.response(payload)
        buttons = body["data"]["components"][0]["components"]
        assert [(b["custom_id"], b["label"]) for b in buttons] == [
            ("pick:1", "Pick 1"), ("pick:2", "Pick 2"), ("info:1", "Info")]

        # The InfoButton answers with a new (ephemeral) message: type 4.
        message = fake.last_message()
        info = fake.press("info:1", message, user_id=1002)
        assert info["type"] == 3 and info["data"] == {"custom_id": "info:1",
                                                      "component_type": 2}
        assert info["message"]["id"] == message["id"]
        await dispatch(client, info)
        reply = await fake.response(info)
        assert reply["type"] == 4 and reply["data"]["content"] == "Movie 1 is great"
        assert reply["data"]["flags"] == EPHEMERAL

    run(fake, first_run)
    picker = fake.messages()[0]
    assert picker["content"] == "Pick a movie"

    # A new process: a fresh client that never sent the message handles its buttons.
    async def second_run(client: discord.Client, tree: app_commands.CommandTree) -> None:
        press = fake.press("pick:2", picker, user_id=1003, user_name="bob")
        assert press["guild_id"] == str(GUILD) and press["member"]["user"]["username"] == "bob"
        await dispatch(client, press)
        body = await fake.response(press)
        assert body["type"] == 7
        assert body["data"] == {"tts": False, "content": "bob picked 2", "components": []}

    run(fake, second_run)
    edited = fake.message(picker["id"])
    assert edited["content"] == "bob picked 2"
    assert edited["components"] == [] and edited["edited_timestamp"] is not None
    with pytest.raises(ValueError, match="no component 'pick:1'"):
        fake.press("pick:1", edited, user_id=1003)  # the buttons are gone
    assert fake.library_errors == []


def test_regular_view_button_defer_update_then_edit_original(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("browse", user_id=1001)
        await dispatch(client, payload)
        await fake.response(payload)
        press = fake.press("more", fake.last_message(), user_id=1001)
        await dispatch(client, press)
        assert (await fake.response(press)) == {"type": 6}
        [edit] = await fake.wait("edit_original", interaction=press)
        assert edit["json"]["content"] == "Here are more movies"

    run(fake, scenario)
    [message] = fake.messages()
    assert message["content"] == "Here are more movies"
    assert message["components"][0]["components"][0]["custom_id"] == "more"


def test_defer_then_followups(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("slow", user_id=1001, guild_id=GUILD)
        await dispatch(client, payload)
        assert (await fake.response(payload)) == {"type": 5, "data": {"flags": EPHEMERAL}}
        first, second = await fake.wait("followup", 2, interaction=payload)
        assert first["query"]["wait"] == "1"
        assert first["json"]["content"] == "Finally done"
        assert second["json"]["content"] == "And one more thing"

    run(fake, scenario)
    # The first followup replaced the "thinking" message and kept it ephemeral.
    thinking, more = fake.messages()
    assert thinking["content"] == "Finally done"
    assert thinking["flags"] == EPHEMERAL  # no longer LOADING
    assert fake.sent()[0]["flags"] == EPHEMERAL | LOADING
    assert more["content"] == "And one more thing" and not more["flags"] & EPHEMERAL
    assert more["interaction_metadata"]["original_response_message_id"] == thinking["id"]


def test_embed_reply(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("card", user_id=1001)
        await dispatch(client, payload)
        embed = (await fake.response(payload))["data"]["embeds"][0]
        assert embed["title"] == "Heat (1995)"
        assert embed["fields"] == [
            {"name": "Rating", "value": "8.3", "inline": True},
            {"name": "Director", "value": "Michael Mann", "inline": False}]

    run(fake, scenario)
    assert fake.last_message()["embeds"][0]["type"] == "rich"


def test_dm_to_a_user_id_with_and_without_file(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        user = await client.fetch_user(777)
        sent = await user.send("Retraining finished")
        assert isinstance(sent.channel, discord.DMChannel)
        assert sent.content == "Retraining finished" and sent.author == client.user

        channel = await client.create_dm(discord.Object(777))
        report = discord.File(io.BytesIO(b"rmse,0.87\n"), filename="metrics.csv")
        with_file = await channel.send("Metrics attached", file=report)
        assert with_file.attachments[0].filename == "metrics.csv"

        # Without fetching the user first: a partial messageable of the DM channel.
        dm_id = fake.dm_channel_id(777)
        await client.get_partial_messageable(dm_id).send("Short note")

        fake.closed_dms.add(888)
        with pytest.raises(discord.Forbidden) as closed:
            await (await client.fetch_user(888)).send("hello?")
        assert closed.value.code == 50007

    run(fake, scenario)
    [create, *_] = fake.calls("create_dm")
    assert create["json"] == {"recipient_id": 777}
    assert [m["content"] for m in fake.dm_messages(777)] == [
        "Retraining finished", "Metrics attached", "Short note"]
    multipart = fake.calls("send_message")[1]
    assert multipart["content_type"] == "multipart/form-data"
    assert multipart["json"]["content"] == "Metrics attached"
    assert multipart["files"] == [{"name": "files[0]", "filename": "metrics.csv",
                                   "content_type": "application/octet-stream",
                                   "data": b"rmse,0.87\n"}]
    assert fake.dm_messages(888) == []


def test_original_response_edit_and_followup_delete(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("rate", user_id=1001, guild_id=GUILD)
        await dispatch(client, payload)
        await settle(client)

    run(fake, scenario)
    names = [c["name"] for c in fake.calls() if c["interaction_id"] is not None]
    assert names == ["interaction_callback", "get_original", "edit_original", "followup",
                     "delete_followup"]
    [message] = fake.messages()  # the followup was deleted
    assert message["content"] == "Rated 5/5" and message["type"] == 20
    assert len(fake.sent()) == 2
    assert fake.library_errors == []


def test_buttons_on_an_unprompted_dm_work_after_a_restart(fake: FakeDiscord) -> None:
    async def push(client: discord.Client, tree: app_commands.CommandTree) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(PickButton(7))
        admin = await client.fetch_user(555)
        await admin.send("New model ready: pick one", view=view)

    run(fake, push)
    [pushed] = fake.dm_messages(555)
    with pytest.raises(ValueError, match="not in DM channel"):
        fake.press("pick:7", pushed, user_id=556)  # only the recipient sees a DM

    async def restarted(client: discord.Client, tree: app_commands.CommandTree) -> None:
        press = fake.press("pick:7", pushed, user_id=555, user_name="admin")
        assert "guild_id" not in press and press["channel"]["type"] == 1
        await dispatch(client, press)
        assert (await fake.response(press))["type"] == 7

    run(fake, restarted)
    assert fake.message(pushed["id"])["content"] == "admin picked 7"
    assert fake.library_errors == []


def test_fake_rejects_what_discord_rejects(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        too_long = fake.slash("echo", {"text": "x" * 2001}, user_id=1001)
        await dispatch(client, too_long)
        await settle(client)
        with pytest.raises(AssertionError, match="callback was rejected: 400"):
            await fake.response(too_long)

        payload = fake.slash("echo", {"text": "hi"}, user_id=1001)
        await dispatch(client, payload)
        await fake.response(payload)
        await dispatch(client, payload)  # delivered twice: the second answer is refused
        await settle(client)

        forged = {**fake.slash("echo", {"text": "hi"}, user_id=1001), "token": "forged"}
        await dispatch(client, forged)
        await settle(client)

    run(fake, scenario)
    statuses = [(c["status"], (c["response"] or {}).get("code"))
                for c in fake.calls("interaction_callback")]
    assert statuses == [(400, 50035), (200, None), (400, 40060), (404, 10062)]
    assert fake.calls("interaction_callback")[0]["response"]["errors"] == {
        "data": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                          "message": "Must be 2000 or fewer in length."}]}}}
    assert len(fake.library_errors) == 3  # the tree logged each failed command
    assert fake.messages()[0]["content"] == "hi" and len(fake.messages()) == 1


def test_errors_in_handlers_are_collected_and_fail_waits_fast(fake: FakeDiscord) -> None:
    async def scenario(client: discord.Client, tree: app_commands.CommandTree) -> None:
        payload = fake.slash("broken", user_id=1001)
        await dispatch(client, payload)
        with pytest.raises(AssertionError, match=r"discord\.py logged an error"):
            await fake.wait("interaction_callback", interaction=payload, timeout=5)

    run(fake, scenario)
    assert any("boom" in error for error in fake.library_errors)


def test_unknown_routes_are_404_and_recorded(fake: FakeDiscord) -> None:
    request = urllib.request.Request(f"{fake.base_url}/gateway/bot")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    missing.value.close()
    assert missing.value.code == 404
    assert fake.calls()[0]["name"] == "unknown GET /gateway/bot"
