"""The command registry: declarations generate help and menus, parameters parse once,
and a new command is one declaration plus one handler."""

from __future__ import annotations

import asyncio
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import COUNT, Args, BadArguments, Registry, command
from bot.console import run
from bot.core import COMMANDS, Ask, Conversation, UserRef
from bot.discord import DiscordBot
from bot.replies import Reply
from storage import Storage

ANN = UserRef("console", "1", "Ann")
GENRES = ("Action", "Comedy", "Sci-Fi", "Film-Noir")


@pytest.fixture
def db(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3")
    yield storage
    storage.close()


class WithDice(Conversation):
    """A bot with one more command, declared the only way commands are declared."""

    @command("dice", "roll dice", example="/dice 3", params=(COUNT,))
    def dice(self, ask: Ask) -> list[Reply]:
        return [Reply(f"You rolled {ask.args.count or 1} dice.")]


def test_every_declaration_is_complete_and_its_example_parses():
    assert [c.name for c in COMMANDS][:3] == ["start", "help", "like"]
    for declared in COMMANDS:
        assert declared.handler is not None and 0 < len(declared.help) <= 100
        assert declared.example.startswith(f"/{declared.name}")
        _, _, typed = declared.example.partition(" ")
        declared.parse(typed, GENRES)  # raises BadArguments if the example were wrong
    admin = {c.name for c in COMMANDS if c.admin}
    assert admin == {"stats", "retrain", "rollback"}
    assert {name for name, _ in COMMANDS.menu()} == {c.name for c in COMMANDS} - admin


def test_a_bad_rating_shows_the_served_example_typed_or_as_an_option():
    rate = COMMANDS.with_examples(["Fargo", "Casablanca"]).get("rate")
    for wrong in (lambda: rate.parse("casablanca 9", GENRES),
                  lambda: rate.accept({"title": "casablanca", "stars": 9}, GENRES)):
        with pytest.raises(BadArguments, match=r"e\.g\. /rate Casablanca 4\.5$"):
            wrong()


def test_help_is_generated_from_the_registry():
    served = COMMANDS.with_examples(["Dune", "The Matrix", "Alien", "Titanic"])
    everyone, admins = served.help(admin=False), served.help(admin=True)
    assert "/like <title>: tell me you love a title, e.g. /like Dune" in everyone
    assert "/rate <title> <1-5>: rate a title, half stars are fine, e.g. /rate The Matrix 4.5" \
        in everyone
    assert "/dislike <title>: a title you don't like, e.g. /dislike Titanic" in everyone
    assert "{" not in everyone  # every slot filled
    assert "e.g. /like Fargo" in COMMANDS.with_examples(["Fargo"]).help(admin=False)
    assert "/recommend [n] [movie|tv] [genre] [years]" in everyone
    assert "/movienight [join|leave]" in everyone
    assert "/retrain" not in everyone and "/retrain: retrain the model" in admins


@pytest.mark.parametrize(("typed", "expected"), [
    ("3 movie Sci-Fi 1990 - 1999", Args(count=3, kind="movie", genres=("Sci-Fi",),
                                        years=(1990, 1999))),
    ("tv scifi 1990–1999", Args(kind="tv", genres=("Sci-Fi",), years=(1990, 1999))),
    ("1980s 99 action comedy", Args(count=20, genres=("Action", "Comedy"), years=(1980, 1989))),
    ("2010", Args(years=(2010, 2010))),
    ("", Args()),
])
def test_recommend_words_parse_in_any_order(typed, expected):
    assert COMMANDS.get("recommend").parse(typed, GENRES) == expected


@pytest.mark.parametrize(("name", "typed", "problem"), [
    ("recommend", "5 cartoons", 'I don\'t understand "cartoons"'),
    ("rate", "fargo", "Tell me a title and 1 to 5 stars"),
    ("rate", "fargo 7", "Ratings go from 1 to 5"),
    ("like", "", "Which title? For example: /like Dune"),
    ("movienight", "dance", "Try /movienight join, /movienight leave, or /movienight."),
])
def test_bad_words_say_what_fits(name, typed, problem):
    with pytest.raises(BadArguments, match=problem.replace("?", r"\?").replace("(", r"\(")):
        COMMANDS.with_examples(["Dune"]).get(name).parse(typed, GENRES)


def test_typed_options_are_checked_by_the_same_rules():
    recommend = COMMANDS.get("recommend")
    assert recommend.accept({"count": 3, "kind": "movie", "genre": "sci-fi",
                             "years": "1990 - 1999"}, GENRES) == \
        recommend.parse("3 movie Sci-Fi 1990 - 1999", GENRES)
    assert COMMANDS.get("rate").accept({"title": "Fargo", "stars": 4.5}) == \
        Args(title="Fargo", stars=4.5)
    assert COMMANDS.get("movienight").accept({"action": None}) == Args(choice="pick")
    with pytest.raises(BadArguments, match="the years"):
        recommend.accept({"years": "nineties"}, GENRES)
    with pytest.raises(BadArguments, match="genre"):
        recommend.accept({"genre": "Cartoons"}, GENRES)


@given(st.text(max_size=80))
def test_any_text_parses_or_says_why(typed):
    for declared in COMMANDS:
        try:
            declared.parse(typed, GENRES)
        except BadArguments as problem:
            assert str(problem)


def test_the_issue_query_works_typed_and_as_options(model, db):
    bot = Conversation(model, db)
    # The small catalogue's 1980s science fiction; the 1990s have none, which is said.
    typed = bot.handle_text(ANN, "/recommend 3 movie Sci-Fi 1980 - 1989")[0]
    options = bot.handle_command(ANN, "recommend", {"count": 3, "kind": "movie",
                                                    "genre": "Sci-Fi", "years": "1980 - 1989"})[0]
    assert typed.cards and [c.heading for c in typed.cards] == [c.heading for c in options.cards]
    assert len(typed.cards) == 3 and all("Sci-Fi" in c.heading for c in typed.cards)
    nineties = bot.handle_text(ANN, "/recommend 3 movie Sci-Fi 1990 - 1999")[0].text
    assert nineties.startswith("Nothing matches those filters yet")


def test_a_new_command_is_one_declaration_and_one_handler(model, db):
    bot = WithDice(model, db)
    assert "dice" not in COMMANDS and "dice" in bot.commands
    assert "/dice [n]: roll dice, e.g. /dice 3" in bot.handle_text(ANN, "/help")[0].text
    assert bot.handle_text(ANN, "/dice 4")[0].text == "You rolled 4 dice."
    assert bot.handle_command(ANN, "dice", {"count": 2})[0].text == "You rolled 2 dice."
    assert ("dice", "roll dice") in bot.commands.menu()  # Telegram's command menu
    discord_bot = DiscordBot(bot, sync_commands=False)
    [dice] = [c for c in discord_bot.tree.get_commands() if c.name == "dice"]
    assert [(p.name, p.type.name, p.required) for p in dice.parameters] == \
        [("count", "integer", False)]
    out = io.StringIO()
    run(bot, io.StringIO("/dice 6\n"), out, ANN)
    assert "You rolled 6 dice." in out.getvalue()
    asyncio.run(discord_bot.close())


def test_registry_refuses_names_platforms_refuse():
    with pytest.raises(ValueError, match="lowercase"):
        Registry().add(COMMANDS.get("like").__class__("Like", "x", "/Like"))
