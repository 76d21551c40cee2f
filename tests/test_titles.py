"""MovieLens titles become display titles and matching keys."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recommender.titles import (
    canonical_genres,
    move_article,
    parse_movielens_title,
    title_key,
)


@pytest.mark.parametrize(
    ("raw", "title", "year", "alts"),
    [
        ("Matrix, The (1999)", "The Matrix", 1999, []),
        ("Toy Story (1995)", "Toy Story", 1995, []),
        ("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", "Shanghai Triad", 1995,
         ["Yao a yao yao dao waipo qiao"]),
        ("Horseman on the Roof, The (Hussard sur le toit, Le) (1995)",
         "The Horseman on the Roof", 1995, ["Le Hussard sur le toit"]),
        ("Léon: The Professional (a.k.a. The Professional) (Léon) (1994)",
         "Léon: The Professional", 1994, ["The Professional", "Léon"]),
        ("(500) Days of Summer (2009)", "(500) Days of Summer", 2009, []),
        ("Avventura, L' (1960)", "L'Avventura", 1960, []),
        ("Lord of the Rings: The Fellowship of the Ring, The (2001)",
         "The Lord of the Rings: The Fellowship of the Ring", 2001, []),
        ("Death Note: Desu nôto (2006–2007)", "Death Note: Desu nôto", 2006, []),
        ("Sherlock (2010-)", "Sherlock", 2010, []),
        ("Hyena Road", "Hyena Road", None, []),
        ("unknown", "unknown", None, []),
    ],
)
def test_parse_movielens_title(raw, title, year, alts):
    assert parse_movielens_title(raw) == (title, year, alts)


def test_year_given_separately_is_kept_when_title_has_none():
    assert parse_movielens_title("Matrix, The", 1999) == ("The Matrix", 1999, [])


def test_duplicate_titles_keep_their_own_years():
    assert parse_movielens_title("Dune (1984)").year == 1984
    assert parse_movielens_title("Dune (2021)").year == 2021


def test_move_article_only_moves_trailing_articles():
    assert move_article("Birdcage, The") == "The Birdcage"
    assert move_article("Misérables, Les") == "Les Misérables"
    assert move_article("Good, the Bad and the Ugly, The") == "The Good, the Bad and the Ugly"
    assert move_article("Me, Myself and Irene") == "Me, Myself and Irene"


def test_title_key_ignores_case_accents_punctuation_and_articles():
    assert title_key("Matrix, The") == title_key("the MATRIX") == "matrix"
    assert title_key("Amélie") == title_key("Amelie")
    assert title_key("Fast & Furious") == "fast and furious"
    assert title_key("Les Misérables") == title_key("Misérables, Les")


def test_canonical_genres():
    assert canonical_genres(["Children's", "Comedy", "Children"]) == ["Children", "Comedy"]
    assert canonical_genres(["(no genres listed)"]) == []
    assert canonical_genres(["unknown"]) == []


@given(st.text(max_size=200), st.one_of(st.none(), st.integers(1870, 2100)))
def test_parse_never_fails_and_keeps_a_title(raw, year):
    parsed = parse_movielens_title(raw, year)
    assert isinstance(parsed.title, str)
    if raw.strip():
        assert parsed.title.strip()
    assert parsed.year is None or 1000 <= parsed.year <= 9999 or parsed.year == year


@given(st.text(max_size=200))
def test_title_key_is_idempotent_and_plain(text):
    key = title_key(text)
    assert key == key.strip()
    assert all(c.isascii() and (c.isalnum() or c == " ") for c in key)
    assert title_key(key) == key
