"""/import and /export in the core and the console: parsers (with hypothesis), matching,
the report, one transaction, idempotence, limits, bad files, and the export round trip.

The samples are real-format exports with MovieLens 100K titles (``tests/exports.py``);
the catalogue is the small test model (``tests/bot_model.py``).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import formats
from bot.console import run as console_run
from bot.core import Conversation, UserRef
from bot.formats import (
    MAX_BYTES,
    STATUSES,
    ExportRow,
    ImportRefused,
    read_export,
    write_csv,
)
from bot.payloads import ImportMisses, decode
from recommender.preferences import split
from storage import Storage, StorageError
from tests import exports
from tests.bot_model import small_model

ANN = UserRef("console", "ann", "Ann")
BOB = UserRef("console", "bob", "Bob")
NOW = 1_800_000_000.0


@pytest.fixture
def chat(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3", clock=lambda: NOW)
    yield Conversation(small_model(), storage, clock=lambda: NOW)
    storage.close()


def uid(chat: Conversation, user: UserRef = ANN) -> int:
    return chat.db.user(user.platform, user.platform_user_id)


def stored(chat: Conversation, user: UserRef = ANN) -> dict:
    """Every row about the user but the log of picks shown (each import shows new ones)."""
    return {k: v for k, v in chat.db.user_data(uid(chat, user)).items() if k != "shown"}


def taste(chat: Conversation, user: UserRef = ANN) -> dict:
    """What the bot knows of a user's taste: likes, dislikes, neutral, seen, watchlist."""
    stored = chat.db.user_data(uid(chat, user))
    likes, dislikes, neutral = split(chat.db.ratings_of(uid(chat, user)))
    return {"likes": set(likes), "dislikes": set(dislikes), "neutral": set(neutral),
            "stars": {r["item_id"]: r["rating"] for r in stored["ratings"]},
            "seen": {r["item_id"] for r in stored["seen"]},
            "watchlist": {r["item_id"] for r in stored["watchlist"]}}


# ----- the parsers -----------------------------------------------------------------------


def test_imdb_ratings_today_and_before_2017():
    parsed = read_export(exports.imdb_ratings(), "ratings.csv")
    assert parsed.source == "IMDb" and parsed.not_titles == 1  # the episode
    first = parsed.entries[0]
    assert (first.imdb_id, first.stars, first.year, first.kind) == ("tt0076759", 5.0, 1977,
                                                                    "movie")
    assert [e.stars for e in parsed.entries][:6] == [5.0, 4.5, 4.0, 3.5, 5.0, 1.5]
    assert parsed.entries[6].kind == "tv"
    old = read_export(exports.imdb_ratings_before_2017(), "ratings.csv")
    assert [(e.title, e.stars, e.kind) for e in old.entries] == [
        ("Fargo", 4.5, "movie"), ("Notting Hill", 2.0, "movie"), ("Breaking Bad", 5.0, "tv")]
    assert old.entries[0].ts is not None


def test_imdb_watchlist_goes_to_the_watchlist():
    [aliens] = read_export(exports.imdb_watchlist(), "WATCHLIST.csv").entries
    assert (aliens.title, aliens.status, aliens.stars) == ("Aliens", "watchlist", None)


@pytest.mark.parametrize("folder", ["", "letterboxd-ann-2024-01-13-utc/"])
def test_letterboxd_zip_reads_every_list_and_skips_deleted(folder):
    parsed = read_export(exports.letterboxd_zip(folder), "letterboxd.zip")
    said = {(e.title, e.status, e.stars) for e in parsed.entries}
    assert ("The Empire Strikes Back", "liked", None) in said
    assert ("Return of the Jedi", "watchlist", None) in said
    assert ("Dune", "seen", None) in said  # a diary entry without a rating
    assert ("Love Actually", "rated", 2.0) in said
    assert all(e.title != "Pretty Woman" for e in parsed.entries)  # deleted/ratings.csv


def test_letterboxd_csvs_one_at_a_time():
    files = exports.letterboxd_files()
    for name, status in [("ratings.csv", "rated"), ("watched.csv", "seen"),
                         ("watchlist.csv", "watchlist"), ("films.csv", "liked")]:
        key = "likes/films.csv" if name == "films.csv" else name
        parsed = read_export(files[key].encode(), name)
        assert parsed.source == "Letterboxd"
        assert {e.status for e in parsed.entries} == {status}, name


@pytest.mark.parametrize(("data", "name", "says"), [
    (b"", "ratings.csv", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "ratings.csv", "not a CSV"),
    (b"name,email\nann,a@b.c\n", "contacts.csv", "don't recognise"),
    (b"PK\x03\x04garbage", "export.zip", "damaged"),
    (b"x" * (MAX_BYTES + 1), "ratings.csv", "5 MB"),
])
def test_a_bad_file_gets_one_clear_line(data, name, says):
    with pytest.raises(ImportRefused) as refused:
        read_export(data, name)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_a_zip_without_letterboxd_files_or_too_big_unpacked_is_refused(monkeypatch):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("photo.jpg", b"\xff\xd8" + b"\x00" * 5000)
    with pytest.raises(ImportRefused, match="not a Letterboxd export"):
        read_export(out.getvalue(), "x.zip")
    monkeypatch.setattr(formats, "MAX_UNZIPPED", 1000)
    with pytest.raises(ImportRefused, match="unpacks to more than"):
        read_export(exports.letterboxd_zip(), "x.zip")


def test_a_row_the_csv_module_cannot_read_refuses_the_file_in_one_line():
    data = exports.imdb_ratings() + b'tt1,8,2024-01-01,"' + b"x" * 200_000 + b'",movie\r\n'
    with pytest.raises(ImportRefused, match=r"^That CSV cannot be read \(line 12: field"):
        read_export(data, "ratings.csv")


def test_more_rows_than_the_limit_are_refused(monkeypatch):
    monkeypatch.setattr(formats, "MAX_ROWS", 5)
    with pytest.raises(ImportRefused, match="more than 5 rows"):
        read_export(exports.imdb_ratings(), "ratings.csv")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["ratings.csv", "x.zip", "watched.csv", ""]))
def test_any_bytes_parse_or_are_refused_in_one_line(data, name):
    try:
        parsed = read_export(data, name)
    except ImportRefused as refused:
        assert str(refused) and "\n" not in str(refused)
    else:
        assert all(e.title and e.status in STATUSES for e in parsed.entries)


titles = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                 max_size=40).filter(lambda t: t.strip() == t and t.strip())
years = st.one_of(st.none(), st.integers(1870, 2100))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(titles, st.integers(1, 10), years,
                          st.sampled_from(["movie", "tvSeries", "tvMiniSeries", "tvMovie"])),
                min_size=1, max_size=30), st.booleans())
def test_imdb_rows_read_back_as_written(rows, bom):
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(exports.IMDB_HEADER)
    for n, (title, rating, year, kind) in enumerate(rows):
        writer.writerow([f"tt{n:07d}", rating, "2024-01-01", title, title, "", kind, "", "",
                         year or "", "", "", "", ""])
    data = (("\ufeff" if bom else "") + out.getvalue()).encode()
    parsed = read_export(data, "ratings.csv")
    assert [(e.title, e.stars, e.year, e.kind, e.imdb_id) for e in parsed.entries] == [
        (t, r / 2, y, "tv" if k in ("tvSeries", "tvMiniSeries") else "movie", f"tt{n:07d}")
        for n, (t, r, y, k) in enumerate(rows)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(titles, years, st.sampled_from([None, *[x / 2 for x in range(1, 11)]])),
                min_size=1, max_size=30))
def test_letterboxd_ratings_read_back_as_written(rows):
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Date", "Name", "Year", "Letterboxd URI", "Rating"])
    for title, year, stars in rows:
        writer.writerow(["2024-01-01", title, year or "", "https://boxd.it/x",
                         "" if stars is None else stars])
    parsed = read_export(out.getvalue().encode(), "ratings.csv")
    assert [(e.title, e.year, e.stars, e.status) for e in parsed.entries] == [
        (t, y, s, "rated" if s is not None else "seen") for t, y, s in rows]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.builds(
    ExportRow, item_id=st.integers(1, 10**12), title=titles, year=years,
    kind=st.sampled_from(["movie", "tv"]), status=st.sampled_from(STATUSES),
    stars=st.sampled_from([x / 2 for x in range(1, 11)]),
    ts=st.floats(0, 4e9), imdb_id=st.one_of(st.none(), st.just("tt0076759"))),
    min_size=1, max_size=20))
def test_our_export_reads_back_as_written(rows):
    rows = [r if r.status == "rated" else ExportRow(r.item_id, r.title, r.year, r.kind,
                                                     r.status, None, r.ts, r.imdb_id)
            for r in rows]
    parsed = read_export(write_csv(rows), "movie-bot-export.csv")
    assert parsed.source == "bot export"
    assert [(e.item_id, e.title, e.year, e.kind, e.status, e.stars) for e in parsed.entries] \
        == [(r.item_id, r.title, r.year, r.kind, r.status, r.stars) for r in rows]


# ----- the import in the core ------------------------------------------------------------


def test_an_imdb_import_matches_reports_and_recommends(chat):
    report, picks = chat.handle_upload(ANN, exports.imdb_ratings(), "ratings.csv")
    lines = report.text.split("\n")
    assert lines[0] == "📥 Your IMDb file: 9 titles."
    assert lines[1] == "✅ Matched 7: 6 liked, 1 disliked."
    # IMDb's long title, no IMDb id in the catalogue: a guess, and the report says which.
    assert lines[2] == ("🤔 1 of them by a guess: Star Wars: Episode V - The Empire Strikes "
                        "Back (1980) as The Empire Strikes Back (1980).")
    assert "❓ Not in my catalogue, 2: Toy Story (1995); GoldenEye (1995)." in lines
    assert "Skipped 1 row: not films or series, or unreadable." in lines
    assert picks.intro.startswith("Picks for you:")
    known = taste(chat)
    # Star Wars, Fargo, The Godfather by IMDb id; 10 points are 5 stars, 3 are 1.5.
    assert known["stars"][50] == 5.0 and known["stars"][100] == 4.5
    assert known["stars"][6] == 1.5 and 6 in known["dislikes"]
    assert 100903747 in known["likes"]  # Breaking Bad, a series, by its id
    assert 172 in known["likes"]  # Empire, found by a guess from IMDb's long title


def test_the_same_file_again_changes_nothing(chat):
    chat.handle_upload(ANN, exports.imdb_ratings(), "ratings.csv")
    before = stored(chat)
    [again, _picks] = chat.handle_upload(ANN, exports.imdb_ratings(), "ratings.csv")
    assert "Nothing changed" in again.text
    assert stored(chat) == before


def test_a_letterboxd_export_fills_likes_seen_and_the_watchlist(chat):
    report, _picks = chat.handle_upload(ANN, exports.letterboxd_zip(), "letterboxd.zip")
    assert report.text.split("\n")[:3] == [
        "📥 Your Letterboxd file: 12 titles.",
        "✅ Matched 10: 4 liked, 1 rated in between, 1 disliked, 2 seen, 2 for your watchlist.",
        "❓ Not in my catalogue, 2: GoldenEye (1995); Toy Story (1995)."]
    known = taste(chat)
    assert known["stars"][50] == 5.0  # ratings.csv beats the diary's 4 and the like
    assert known["stars"][2] == 4.0  # Aliens (1986), listed as 1985: one year off
    assert 172 in known["likes"]  # liked, not rated
    assert known["stars"][100] == 3.0 and 100 in known["neutral"]  # from the diary
    assert known["watchlist"] == {181, 8}  # Return of the Jedi, Dune (2021)
    assert known["seen"] == {4, 7}  # Notting Hill, Dune (1984)
    assert 5 in known["dislikes"]  # Love Actually, 2 stars


def test_more_than_ten_misses_are_named_then_shown_all_on_request(chat):
    rows = [(f"tt9{n:06d}", 8, "2024-01-01", f"Unknown Film {n}", "movie", 2001, "", "")
            for n in range(14)]
    report, *_ = chat.handle_upload(ANN, exports.imdb_ratings(rows), "ratings.csv")
    assert "Not in my catalogue, 14:" in report.text and "and 4 more" in report.text
    [[button]] = report.buttons
    assert decode(button.data) == ImportMisses()
    [everything] = chat.handle_button(ANN, button.data)
    assert everything.text.count(": not found") == 14


def test_all_misses_beyond_a_hundred_come_as_a_file(chat):
    rows = [(f"tt9{n:06d}", 8, "2024-01-01", f"Unknown Film {n}", "movie", 2001, "", "")
            for n in range(120)]
    report, *_ = chat.handle_upload(ANN, exports.imdb_ratings(rows), "ratings.csv")
    [everything] = chat.handle_button(ANN, report.buttons[0][0].data)
    assert everything.text.endswith("… all 120 are in the file.")
    [listing] = everything.files
    assert listing.data.decode().count("Unknown Film") == 120


CATALOGUE_TITLES = [("Star Wars", 1977), ("Fargo", 1996), ("The Godfather", 1972),
                    ("Dune", 1984), ("Dune", 2021), ("Alien", 1979), ("Nowhere Film", 2001)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(CATALOGUE_TITLES), st.sampled_from(STATUSES),
                          st.integers(1, 10)), max_size=15))
def test_any_import_twice_leaves_what_one_left(rows):
    import tempfile
    from pathlib import Path

    exported = [ExportRow(0, title, year, "movie", status,
                          stars / 2 if status == "rated" else None, NOW - n)
                for n, ((title, year), status, stars) in enumerate(rows)]
    data = write_csv(exported).replace(b",0,", b",,")  # no ids: matched by title and year
    with tempfile.TemporaryDirectory() as folder:
        storage = Storage(Path(folder) / "bot.sqlite3", clock=lambda: NOW)
        try:
            chat = Conversation(small_model(), storage, clock=lambda: NOW)
            chat.handle_upload(ANN, data, "movie-bot-export.csv")
            once = stored(chat)
            chat.handle_upload(ANN, data, "movie-bot-export.csv")
            assert stored(chat) == once
        finally:
            storage.close()


def test_a_failure_leaves_nothing_half_imported(chat, monkeypatch):
    from storage import db as storage_db

    chat.handle_text(ANN, "/like fargo")
    before = chat.db.user_data(uid(chat))
    broken = dict(storage_db._IMPORT_SQL, watchlist=("INSERT INTO nowhere VALUES (1)",))
    monkeypatch.setattr(storage_db, "_IMPORT_SQL", broken)
    [reply] = chat.handle_upload(ANN, exports.letterboxd_zip(), "letterboxd.zip")
    assert "nothing was changed" in reply.text
    assert chat.db.user_data(uid(chat)) == before


def test_the_storage_refuses_a_bad_word_before_writing(chat):
    from storage import Said

    user = uid(chat)
    with pytest.raises(StorageError):
        chat.db.import_taste(user, [Said(50, "rate", NOW, 5.0), Said(51, "rate", NOW, 7.0)])
    assert chat.db.count_feedback(user) == 0


def test_limits_and_bad_files_get_a_line_and_keep_what_was_stored(chat):
    chat.handle_text(ANN, "/like star wars")
    before = chat.db.user_data(uid(chat))
    [too_big] = chat.handle_upload(ANN, b"", "huge.csv", size=MAX_BYTES + 1)
    assert too_big.text.startswith("⚠ That file is 5.0 MB; I take up to 5 MB and 20,000 rows")
    [foreign] = chat.handle_upload(ANN, b"%PDF-1.7\n", "ratings.pdf")
    assert foreign.text.startswith("⚠ I don't recognise that file.")
    assert chat.db.user_data(uid(chat)) == before
    [how] = chat.handle_text(ANN, "/import")
    assert "Your Ratings page > Export" in how.text
    assert "Settings > Import & Export > Export your data" in how.text


def test_export_round_trips_the_taste(chat):
    for text in ("/like star wars", "/dislike pretty woman", "/rate fargo 3", "/rate alien 4.5",
                 "/watch dune 2021", "/watch notting hill", "/like breaking bad"):
        chat.handle_text(ANN, text)
    picks = chat.handle_text(ANN, "/recommend")[0]
    chat.handle_button(ANN, next(b.data for row in picks.buttons for b in row
                                 if b.label.endswith("👎")))  # not interested
    chat.handle_button(ANN, next(b.data for row in picks.buttons[1:] for b in row
                                 if b.label.endswith("✔")))  # seen
    [reply] = chat.handle_text(ANN, "/export")
    csv_file, json_file = reply.files
    assert csv_file.name.endswith(".csv") and json_file.name.endswith(".json")
    header = csv_file.data.decode().split("\r\n")[0].split(",")
    assert header[:4] == ["Const", "Your Rating", "Date Rated", "Title"]
    everything = json.loads(json_file.data)
    assert everything["user"]["platform_user_id"] == "ann"
    assert {"ratings", "not_interested", "seen", "watchlist", "shown"} <= set(everything)

    report, _picks = chat.handle_upload(BOB, csv_file.data, csv_file.name)
    assert report.text.startswith("📥 Your bot export file: ")
    assert "guess" not in report.text and "Not in my catalogue" not in report.text
    ann, bob = taste(chat, ANN), taste(chat, BOB)
    assert bob == ann
    stored = {k: sorted(r["item_id"] for r in v) for k, v in
              chat.db.user_data(uid(chat, BOB)).items() if k in ("not_interested",)}
    assert stored == {k: sorted(r["item_id"] for r in v) for k, v in
                      chat.db.user_data(uid(chat, ANN)).items() if k in ("not_interested",)}
    assert [r.item_id for r in chat.handle_text(BOB, "/recommend")[0].cards] == \
        [r.item_id for r in chat.handle_text(ANN, "/recommend")[0].cards]


def test_forget_drops_the_last_report_too(chat):
    chat.handle_upload(ANN, exports.imdb_ratings(), "ratings.csv")
    forget = chat.handle_text(ANN, "/forget")[0]
    chat.handle_button(ANN, forget.buttons[0][0].data)
    assert "no import of yours" in chat.imports.misses(uid(chat)).text


# ----- the console -----------------------------------------------------------------------


def test_console_imports_a_path_and_exports_to_files(chat, tmp_path):
    sample = tmp_path / "ratings.csv"
    sample.write_bytes(exports.imdb_ratings())
    zipped = tmp_path / "letterboxd-ann.zip"
    zipped.write_bytes(exports.letterboxd_zip())
    out = io.StringIO()
    folder = tmp_path / "out"
    folder.mkdir()
    console_run(chat, io.StringIO(f"/import {sample}\n/import '{zipped}'\n/import "
                                  f"{tmp_path}/missing.csv\n/import {tmp_path}\n/export\n"),
                out, ANN, folder=folder)
    text = out.getvalue()
    assert "📥 Your IMDb file: 9 titles." in text and "📥 Your Letterboxd file:" in text
    assert "Picks for you:" in text
    assert f"I can't read {tmp_path}/missing.csv: No such file or directory." in text
    assert "is a folder" in text
    written = folder / "movie-bot-export.csv"
    assert f"Wrote {written}" in text and f"Wrote {folder / 'movie-bot-export.json'}" in text
    assert "Traceback" not in text
    # The console's export imports back as the same taste.
    chat.handle_upload(BOB, written.read_bytes(), written.name)
    assert taste(chat, BOB) == taste(chat, ANN)
