"""MovieLens titles become display titles and matching keys."""

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.titles import (
    canonical_genres,
    merge_alt_titles,
    move_article,
    parse_movielens_title,
    strip_accents,
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


@pytest.mark.parametrize(
    ("title", "key"),
    [
        ("Брат", "brat"),  # Cyrillic
        ("Αλέξης Ζορμπάς", "alexis zormpas"),  # Greek
        ("기생충", "gisaengchung"),  # Korean: IMDb's original title is "Gisaengchung"
        ("卧虎藏龙", "wo hu cang long"),  # Chinese: one word per character, as IMDb writes it
        ("千と千尋の神隠し", "qian to qian xun no shen yin shi"),  # kanji read as Chinese
        ("ドラえもん", "doraemon"),  # kana runs stay one word
        ("الرسالة", "lrslh"),  # Arabic and Hebrew: consonants only, but stable
        ("שלום", "slvm"),
        ("Straße", "strasse"),  # Latin letters without a decomposition are spelled out
        ("Frøken Smillas fornemmelse for sne", "froken smillas fornemmelse for sne"),
        ("Star⭐Wars 😀", "star wars"),  # symbols and emoji separate words
        ("\u202eabc\x00def", "abc def"),  # format and control characters too
        ("😀🎬", ""),
    ],
)
def test_title_key_in_other_scripts(title, key):
    assert title_key(title) == key


def test_a_title_and_its_latin_spelling_share_a_key():
    assert title_key("Брат") == title_key("Brat") == title_key("BRAT")
    assert title_key("卧虎藏龙") == title_key("Wo hu cang long")
    assert title_key("기생충") == title_key("Gisaengchung")


def _key_before_transliteration(title: str) -> str:
    """title_key as it was before other scripts were transliterated (ingest's old join)."""
    text = strip_accents(move_article(title or "")).lower().replace("&", " and ")
    text = re.sub(r"[^0-9a-z]+", " ", text).strip()
    return re.sub(r"^(?:(?:the|a|an)\s+)+", "", text)


# Every character the old key already turned into ASCII: plain and accented Latin, digits,
# punctuation, ligatures such as "ﬁ", full-width forms.
_ALREADY_ASCII = [chr(c) for c in range(0x20, 0x3000) if not 0xD800 <= c <= 0xDFFF
                  and strip_accents(chr(c)).isascii()] + ["ﬁ", "Ａ", "１"]


@settings(max_examples=300)
@given(st.text(st.sampled_from(_ALREADY_ASCII), max_size=80))
def test_latin_keys_are_unchanged(text):
    # Ingest joins MovieLens to IMDb on title_key: Latin titles must keep their keys.
    assert title_key(text) == _key_before_transliteration(text)


def test_only_letters_the_old_key_dropped_change():
    changed = [chr(c) for c in range(0xA0, 0x250) if unicodedata.category(chr(c))[0] == "L"
               and title_key(chr(c)) != _key_before_transliteration(chr(c))]
    assert all(_key_before_transliteration(c) == "" for c in changed)
    assert {"ß", "ø", "æ", "ł", "đ", "þ", "œ"} <= set(changed)


_SCRIPTS = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=200, deadline=None)
@given(st.text(_SCRIPTS, max_size=10_000))
def test_title_key_of_any_text_is_plain_ascii(text):
    key = title_key(text)
    assert key.isascii() and key == key.strip() and "  " not in key
    assert all(c.isalnum() or c == " " for c in key)
    assert title_key(key) == key


def test_merge_alt_titles_adds_only_new_keys():
    assert merge_alt_titles("Amelie", ["Le Fabuleux destin d'Amélie Poulain"], "Amélie",
                            "Le fabuleux destin d'Amélie Poulain") == [
        "Le Fabuleux destin d'Amélie Poulain"]
    assert merge_alt_titles("Star Wars: Episode IV - A New Hope", [], "Star Wars",
                            "Star Wars") == ["Star Wars"]
    assert merge_alt_titles("Parasite", None, "Parasite", "Gisaengchung") == ["Gisaengchung"]
    assert merge_alt_titles("Brother", ["Brat"], None, "Брат") == ["Brat"]  # same key
    assert merge_alt_titles("X", [], "", "😀", " Y ") == ["Y"]
