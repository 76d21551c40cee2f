"""Inline mode without Telegram: queries as shareable cards, deep-link payloads read back."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import UserRef
from bot.inline import RESULTS, item_of, payload_of, shareable
from bot.payloads import MAX_ID

ANN = UserRef("telegram", "1001", "Ann")
TELEGRAM_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a t.me ?start= may carry


@pytest.fixture
def bot(chat_with):
    return chat_with()


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_every_item_id_makes_a_payload_telegram_accepts_and_reads_back(item_id):
    payload = payload_of(item_id)
    assert TELEGRAM_PAYLOAD.fullmatch(payload)
    assert item_of(payload) == item_id


@given(st.one_of(st.text(max_size=80), st.from_regex(r"t[0-9]{0,25}", fullmatch=True),
                 st.sampled_from(["t", "t-1", "t1.5", "t１２", "T12", " t12", "t12 ", "t٣",
                                  f"t{MAX_ID + 1}", "t0x10", "inline"])))
def test_the_payload_parser_reads_only_what_payload_of_writes(text):
    digits = text[1:]
    ours = (text[:1] == "t" and digits.isascii() and digits.isdigit() and len(digits) <= 19
            and int(digits) <= MAX_ID)
    assert item_of(text) == (int(digits) if ours else None)


def test_a_query_finds_titles_told_apart_by_year_and_kind(bot):
    dune = shareable(bot, ANN, "dune")
    assert [c.heading for c in dune] == ["Dune (2021)", "Dune (1984)"]
    assert dune[0].detail == "Movie · Adventure, Sci-Fi"
    [fargo] = shareable(bot, ANN, "fargo")
    assert fargo.link == "https://www.imdb.com/title/tt0116282/"
    [series] = shareable(bot, ANN, "breaking bad")
    assert (series.heading, series.detail) == ("Breaking Bad (2008) [TV]",
                                               "TV series · Crime, Drama · IMDb 9.5")


def test_an_empty_query_offers_the_users_latest_picks_then_popular_titles(bot):
    popular = shareable(bot, ANN, "")
    assert popular and len({c.item_id for c in popular}) == len(popular)
    bot.handle_text(ANN, "/like godfather 1972")
    picks = bot.handle_text(ANN, "/recommend 2")[0].cards
    mine = shareable(bot, ANN, "   ")
    assert [c.item_id for c in mine[:2]] == [c.item_id for c in picks]
    assert len(mine) <= RESULTS and len({c.item_id for c in mine}) == len(mine)


def test_a_deep_link_opens_the_title_and_a_bad_one_the_welcome(bot):
    [card] = bot.handle_start(ANN, payload_of(100))
    assert card.cards[0].heading == "Fargo (1996)"
    assert [b.label for row in card.buttons for b in row] == ["❤ Like", "➕ Watchlist",
                                                              "≈ Similar"]
    for bad in ("", "t", "t424242", "t-1", "x100", "inline"):
        [welcome] = bot.handle_start(ANN, bad)
        assert "Tap a few favourites" in welcome.text


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=300), st.sampled_from([
    "", " ", "\x00", "<b>alien</b> & co", "\u202eneila", "עברית alien", "x" * 10_000,
    "🎬" * 5000, "1999", "tv", "the", "alien 1979 movie", "'; DROP TABLE users; --"])))
def test_any_query_text_gives_at_most_ten_distinct_cards_and_never_raises(bot, query):
    cards = shareable(bot, ANN, query)
    assert len(cards) <= RESULTS
    assert len({c.item_id for c in cards}) == len(cards)
    assert all(c.heading and TELEGRAM_PAYLOAD.fullmatch(payload_of(c.item_id)) for c in cards)
