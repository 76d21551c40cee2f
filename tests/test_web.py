"""The web app (bot/web.py) through Streamlit's AppTest: every flow a visitor has, on the
small model and a fresh SQLite file; bad input in every field; linking with /link codes
and their limit on wrong ones; importing IMDb and Letterboxd exports and /export's
downloads."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st_h
from streamlit.runtime.media_file_storage import MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from bot import linking
from bot.core import Conversation, UserRef
from bot.formats import MAX_BYTES
from bot.visit import (
    MAX_QUERY,
    Visit,
    check,
    new_visitor_id,
    reset,
    room_key,
    visitor_from_cookie,
)
from bot.web import UPLOAD_MB, md
from storage import Storage
from tests import exports
from tests.bot_model import small_model, write_model

WEB = Path(__file__).resolve().parent.parent / "bot" / "web.py"
ANN = UserRef("telegram", "1001", "Ann")
METRICS = {"recommenders": {"spark-als": {"ndcg@10": 0.4707, "precision@10": 0.4105},
                            "popularity": {"ndcg@10": 0.2498, "precision@10": 0.2274}},
           "new-user": {"spark-als": {"given@5": 0.3751, "random@5": 0.5263}}}
BAD = ["", "   ", "x" * 10_000, "<script>alert(1)</script>", "<b>bold</b> <img src=x>",
       "שלום עולם مرحبا", "[click](javascript:alert(1)) **x** :red[y] $x$"]


@pytest.fixture
def web(tmp_path, monkeypatch):
    """The app's environment: the small model published, a fresh database, no schedules;
    returns the database path."""
    write_model(tmp_path / "models", trained_at="2026-11-24T22:10:52+00:00", metrics=METRICS,
                data="tiny test catalogue")
    db_path = tmp_path / "data" / "bot.sqlite3"
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name, value in {"MODELS_DIR": tmp_path / "models", "DATA_DIR": tmp_path / "data",
                        "DB_PATH": db_path, "RETRAIN_CRON": "off", "BACKUP_CRON": "off"}.items():
        monkeypatch.setenv(name, str(value))
    reset()  # the server process reads them once: this is a new one
    yield db_path
    reset()


def visit(visitor: str | None = None) -> AppTest:
    """A browser opening the app; ``visitor`` is the id its cookie carries."""
    at = AppTest.from_file(str(WEB), default_timeout=60)
    if visitor is not None:
        at.session_state["visitor"] = visitor
    return at.run()


def plain(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("  \n", "\n")


def shown(at: AppTest) -> str:
    """Every text on the page, as the visitor reads it."""
    parts = [plain(m.value) for m in at.markdown] + [plain(c.value) for c in at.caption]
    return "\n".join(parts)


def go(at: AppTest, page: str) -> AppTest:
    return at.sidebar.radio(key="page").set_value(page).run()


def click(at: AppTest, label: str, nth: int = 0) -> AppTest:
    found = [b for b in at.button if label.lower() in b.label.lower()]
    assert len(found) > nth, f"no button {label!r} in {[b.label for b in at.button]}"
    return found[nth].click().run()


def search(at: AppTest, text: str) -> AppTest:
    go(at, "Search")
    return at.text_input(key="query").input(text).run()


def test_search_shows_live_matches_told_apart_by_year_and_kind(web):
    at = visit()
    assert not at.exception
    search(at, "dune")
    page = shown(at)
    assert "Several titles match" in page
    assert "Dune (1984)" in page and "Dune (2021)" in page
    search(at, "breaking bad")
    assert "Breaking Bad (2008) [TV]" in shown(at)
    search(at, "star wras")  # a typo
    assert "Star Wars (1977)" in shown(at)
    assert at.text_input(key="query").proto.label == "Search a title"


def test_like_dislike_and_rate_from_search(web):
    at = visit()
    search(at, "star wars")
    click(at, "Like")
    assert "Liked Star Wars (1977)" in shown(at)
    search(at, "notting hill")
    click(at, "Dislike")
    assert "you don't like Notting Hill" in shown(at)
    search(at, "fargo")
    at.select_slider[0].set_value(4.5).run()
    click(at, "Rate")
    assert "Rated Fargo (1996): 4.5/5" in shown(at)
    go(at, "Watchlist & likes")
    page = shown(at)
    assert "❤ liked: Star Wars (1977)" in page and "⭐ 4.5/5: Fargo (1996)" in page
    assert "👎 disliked: Notting Hill (1999)" in page


def liked_star_wars(visitor: str | None = None) -> AppTest:
    at = visit(visitor)
    search(at, "star wars")
    return click(at, "Like")


def test_recommendations_are_cards_with_reason_genres_and_imdb_link(web):
    at = liked_star_wars()
    go(at, "Recommendations")
    click(at, "Recommend")
    page = shown(at)
    assert "Picks for you:" in page
    assert "1. Return of the Jedi (1983) · Action, Sci-Fi" in page
    assert "because you liked Star Wars" in page
    assert "Star Wars (1977)" not in page.split("Picks for you:")[1].split("\n")[1]
    for word in ("👍 Like", "👎 Not for me", "➕ Watchlist", "✔ Seen", "More like this", "Why"):
        assert any(word in b.label for b in at.button), word
    # Fargo has an IMDb id in the small model: its card links to its page.
    at.multiselect[0].set_value(["Crime"]).run()
    click(at, "Recommend")
    urls = [b.proto.url for b in at.get("link_button")]
    assert "https://www.imdb.com/title/tt0116282/" in urls


def choose(at: AppTest, label: str, value: object) -> AppTest:
    """Set the filter labelled ``label``, looked up afresh (an element of an older run
    would send that run's button presses again)."""
    widgets = list(at.radio) + list(at.slider) + list(at.multiselect)
    return next(w for w in widgets if w.label == label).set_value(value).run()


def test_filters_for_kind_genres_years_and_minimum_rating(web):
    at = liked_star_wars()
    go(at, "Recommendations")
    choose(at, "Kind", "TV shows")
    click(at, "Recommend")
    page = shown(at)
    assert "Breaking Bad (2008) [TV]" in page and "Return of the Jedi" not in page
    choose(at, "Kind", "Movies")
    choose(at, "Genres (all of them)", ["Comedy", "Romance"])
    choose(at, "Years", (1995, 2005))
    click(at, "Recommend")
    page = shown(at)
    assert "Notting Hill (1999)" in page and "Love Actually (2003)" in page
    assert "Pretty Woman (1990)" not in page  # 1990 is outside the years
    choose(at, "Kind", "Movies and TV")
    choose(at, "Genres (all of them)", [])
    choose(at, "Years", (1977, 2021))
    rating = next(s for s in at.slider if s.label == "Minimum IMDb rating")
    assert not rating.disabled  # the small model has one IMDb rating (Breaking Bad's)
    choose(at, "Minimum IMDb rating", 9.0)
    click(at, "Recommend")
    page = shown(at)
    assert "Breaking Bad (2008) [TV]" in page and "Return of the Jedi" not in page


def picks(at: AppTest) -> AppTest:
    go(at, "Recommendations")
    return click(at, "Recommend")


def test_thumbs_watchlist_and_seen_on_each_card(web):
    at = picks(liked_star_wars())
    click(at, "👍 Like")  # the first card: Return of the Jedi
    assert "Liked Return of the Jedi (1983)" in shown(at)
    click(at, "👎 Not for me")
    assert "no more" in shown(at)
    click(at, "➕ Watchlist", 2)
    assert "to your /watchlist" in shown(at)
    click(at, "✔ Seen", 3)
    assert "as seen" in shown(at)
    go(at, "Watchlist & likes")
    assert "Your watchlist (1):" in shown(at)


def test_watchlist_more_like_this_why_and_forget(web):
    at = picks(liked_star_wars())
    click(at, "➕ Watchlist")
    go(at, "Watchlist & likes")
    assert "1. Return of the Jedi (1983)" in shown(at)
    click(at, "✔ Seen")
    assert "Your watchlist is empty" in shown(at)
    search(at, "alien")
    click(at, "More like this")
    assert "More like Alien (1979):" in shown(at)
    search(at, "empire strikes back")
    click(at, "Why")
    assert "because you liked Star Wars" in shown(at)
    go(at, "Your account")
    forget = next(b for b in at.button if b.label == "Forget my data")
    assert forget.disabled  # a checkbox confirms first
    at.checkbox(key="sure").check().run()
    click(at, "Forget my data")
    assert "everything I knew about you is deleted" in shown(at)
    go(at, "Watchlist & likes")
    assert "You haven't told me anything yet" in shown(at)


def test_more_picks_pages_through_the_same_list(web):
    at = liked_star_wars()
    go(at, "Recommendations")
    choose(at, "How many", 2)
    click(at, "Recommend")
    click(at, "More picks")
    assert "More picks:" in shown(at) and "3. " in shown(at)


def test_taste_survives_a_browser_restart_through_the_visitor_cookie(web):
    visitor = new_visitor_id()
    liked_star_wars(visitor)
    again = go(visit(visitor), "Watchlist & likes")  # a new browser session, same cookie
    assert "❤ liked: Star Wars (1977)" in shown(again)
    stranger = go(visit(), "Watchlist & likes")
    assert "You haven't told me anything yet" in shown(stranger)
    assert stranger.session_state["visitor"] != visitor


def test_the_cookie_is_a_random_id_and_a_bad_cookie_is_replaced(web):
    at = visit()
    visitor = at.session_state["visitor"]
    assert visitor_from_cookie(visitor) == visitor and len(visitor) == 32
    (script,) = at.sidebar.get("html")
    assert f"movie_visitor={visitor};" in script.proto.body and "SameSite=Lax" in script.proto.body
    ids = {new_visitor_id() for _ in range(1000)}
    assert len(ids) == 1000 and not any(i.isdigit() for i in ids)
    for forged in ("1", "42", "x" * 31, "<script>" * 4, "a" * 31 + "\"", None, ""):
        assert visitor_from_cookie(forged) is None


def test_movie_night_for_a_named_room(web):
    ann, bob = visit(), visit()
    for at, name, title in ((ann, "Ann", "star wars"), (bob, "Bob", "godfather 1972")):
        search(at, title)
        click(at, "Like")
        go(at, "Movie night")
        at.text_input(key="name_typed").input(name).run()
        at.text_input(key="room").input("Friday at Ann's").run()
        click(at, "Join")
    assert "Ann and Bob" not in shown(bob) and "In so far: Ann, Bob" in shown(bob)
    bob.text_input(key="room").input("  friday AT ann's ").run()  # any case and spacing
    click(bob, "Pick for the room")
    page = shown(bob)
    assert "Movie night for Ann and Bob:" in page and "for Ann" in page
    click(bob, "Leave")
    assert "Bob left movie night." in shown(bob)
    assert room_key("Friday  at ANN's") == "web:friday at ann's"


def test_about_the_model_shows_version_date_figures_plot_and_schedule(web):
    version = next(p.name for p in (web.parent.parent / "models").iterdir() if p.name[0] == "2")
    plots = web.parent.parent / "models" / version / "evaluation"
    plots.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "docs" / "evaluation.png",
                plots / "new-user.png")  # as `evaluate --plot` leaves one
    at = go(visit(), "About the model")
    page = shown(at)
    assert f"Version {version}, trained 2026-11-24T22:10:52+00:00 on tiny test catalogue" in page
    assert "Retraining: nightly retraining is off" in page
    table = at.dataframe[0].value
    assert {"protocol", "model", "metric", "value"} <= set(table.columns)
    assert 0.4707 in table["value"].tolist()
    assert at.get("vega_lite_chart"), "a plot of the figures"
    assert len(at.get("image")) == 1 and "new-user" in str(at.get("image")[0].proto)


# ----- linking a chat account ----------------------------------------------------------

def chat(db_path: Path, clock=time.time) -> Conversation:
    return Conversation(small_model(), Storage(db_path, clock=clock))


def code_in(text: str) -> str:
    found = re.search(r"Your code: ([A-Z0-9]{4}-[A-Z0-9]{4})", text)
    assert found, text
    return found.group(1)


def link(at: AppTest, code: str) -> AppTest:
    go(at, "Your account")
    at.text_input(key="code").input(code).run()
    return click(at, "Link")


def test_a_link_code_makes_the_web_visitor_act_as_the_chat_user(web):
    bot = chat(web)
    bot.handle_text(ANN, "/like fargo")
    bot.handle_text(ANN, "/dislike alien")
    code = code_in(bot.handle_text(ANN, "/link")[0].text)
    at = liked_star_wars()  # rated on the web before linking
    search(at, "alien")
    click(at, "❤ Like")  # the chat said otherwise: the chat's word stays
    link(at, code)
    assert "Linked" in shown(at) and "Telegram account" in shown(at)
    assert "The title you rated here is in it now." in shown(at)
    go(at, "Watchlist & likes")
    page = shown(at)
    assert "❤ liked: Fargo (1996)" in page  # the chat's taste, on the web
    assert "❤ liked: Star Wars (1977)" in page and "👎 disliked: Alien (1979)" in page
    ann = bot.db.user("telegram", "1001")
    assert sorted(bot.db.ratings_of(ann)) == [(1, 1.0), (50, 5.0), (100, 5.0)]
    search(at, "aliens")
    click(at, "➕ Watchlist")
    assert [w.item_id for w in bot.db.watchlist(ann)] == [2]
    # /export shows the links, never a code's hash or a visitor's cookie id.
    exported = bot.db.user_data(ann)
    assert [set(row) for row in exported["linked_web_profiles"]] == [{"ts"}]
    visitor = at.session_state["visitor"]
    mine = bot.db.user_data(bot.db.user("web", visitor))
    assert [(r["platform"], r["platform_user_id"]) for r in mine["linked_to"]] == [
        ("telegram", "1001")]
    assert visitor not in repr(exported) and code.replace("-", "") not in repr(exported)
    # Single use: the same code does nothing for anyone else.
    other = link(visit(), code)
    assert "wrong, used or expired" in shown(other)
    go(at, "Your account")
    click(at, "Unlink")
    go(at, "Watchlist & likes")
    assert "Fargo" not in shown(at)


def test_link_codes_expire_by_the_injected_clock(web):
    now = [1_800_000_000.0]
    bot = chat(web, clock=lambda: now[0])
    code = code_in(bot.handle_text(ANN, "/link")[0].text)
    key = linking.key_of(linking.normalise(code))
    web_user = bot.db.user("web", new_visitor_id())
    now[0] += linking.TTL_SECONDS  # the very second it expires
    assert bot.db.redeem_link_code(key, web_user) is None
    code = code_in(bot.handle_text(ANN, "/link")[0].text)
    now[0] += linking.TTL_SECONDS - 1
    assert linking.redeem(bot.db, web_user, code.lower().replace("-", " ")) == (
        ("telegram", "1001", "Ann"), 0)
    # The web app (real time) refuses a code that expired long ago.
    old = chat(web, clock=lambda: time.time() - 3600)
    stale = code_in(old.handle_text(ANN, "/link")[0].text)
    assert "wrong, used or expired" in shown(link(visit(), stale))


def test_link_codes_are_secret_random_and_private(web):
    bot = chat(web)
    codes = {code_in(bot.handle_text(ANN, "/link")[0].text) for _ in range(200)}
    assert len(codes) == 200
    assert all(set(c.replace("-", "")) <= set(linking.ALPHABET) for c in codes)
    stored = [k for (k,) in bot.db._db.execute("SELECT code_hash FROM link_codes")]
    assert len(stored) == 1, "one live code per user: a new one replaces the last"
    assert not {c.replace("-", "") for c in codes} & set(stored), "only hashes are stored"
    group = UserRef("telegram", "1001", "Ann", room="telegram:-100")
    assert "private chat" in bot.handle_text(group, "/link")[0].text
    web_user = UserRef("web", new_visitor_id())
    assert "Your code" not in bot.handle_text(web_user, "/link")[0].text
    assert "/link" in bot.commands.help(admin=False)


# ----- bad input -------------------------------------------------------------------------

def never_html(at: AppTest) -> None:
    """No text on the page is markup: every < and * is escaped; the only raw HTML is
    the cookie script."""
    for element in list(at.markdown) + list(at.caption):
        assert not re.search(r"(?<!\\)[<>]", element.value.replace("**", "")), element.value
    assert [h.proto.body[:8] for h in at.get("html")] == ["<script>"]
    assert not at.exception


@pytest.mark.parametrize("bad", BAD, ids=["empty", "blank", "10k", "script", "html", "rtl",
                                          "markdown"])
def test_bad_input_in_every_field_gets_a_friendly_message_never_html(web, bad):
    at = visit()
    search(at, bad)
    if bad:  # an empty box just shows the hint
        assert shown(at).strip(), "always an answer"
    never_html(at)
    if len(bad) > MAX_QUERY:
        assert "too long" in shown(at)
    if bad.strip() == "":
        assert "Please type a title" in shown(at) or "Type a title" in shown(at)
    link(at, bad)
    assert ("Please type" in shown(at) or "too long" in shown(at)
            or "wrong, used or expired" in shown(at))
    never_html(at)
    go(at, "Movie night")
    at.text_input(key="name_typed").input(bad).run()
    at.text_input(key="room").input(bad).run()
    click(at, "Join")
    page = shown(at)
    assert "Please type a room name" in page or "too long" in page or "is in for movie" in page
    never_html(at)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st_h.text(max_size=300))
def test_markdown_escaping_shows_exactly_the_text(text):
    escaped = md(text)
    assert not re.search(r"(?<!\\)[<>*_`\[\]]", escaped.replace("\\\\", ""))
    assert plain(escaped) == text


@settings(max_examples=80, deadline=None)
@given(st_h.text(max_size=400))
@example("0" * (MAX_QUERY + 1))  # cut to the limit, and refused
def test_every_typed_text_is_cleaned_or_refused(text):
    clean, problem = check(text, "a title", MAX_QUERY)
    assert len(clean) <= MAX_QUERY  # too long comes back cut, with the problem
    if problem is None:
        assert clean
    else:
        assert ("Please type" in problem) == (not clean)
        assert ("too long" in problem) == bool(clean)
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in clean)


def test_searching_any_text_always_answers(web):
    bot = chat(web)
    from bot.visit import Visit

    visitor = Visit(bot, new_visitor_id())

    @settings(max_examples=60, deadline=None)
    @given(st_h.text(max_size=250))
    def answers(text):
        reply = visitor.search(text)
        assert reply.intro

    answers()


# ----- serving ---------------------------------------------------------------------------

def test_python_m_bot_web_runs_streamlit_on_the_configured_address_and_port():
    from bot.app import web_command
    from bot.settings import WebSettings

    assert WebSettings.from_env({}) == WebSettings("127.0.0.1", 8501)
    command = web_command(WebSettings.from_env({"WEB_PORT": "8600", "WEB_ADDRESS": "0.0.0.0"}))
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("bot/web.py")
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "0.0.0.0" and options["--server.port"] == "8600"
    assert options["--browser.gatherUsageStats"] == "false"
    assert options["--server.headless"] == "true"
    assert options["--server.maxUploadSize"] == "6"  # the server refuses bigger files too


@pytest.mark.parametrize("port", ["http", "0", "70000"])
def test_a_bad_web_port_is_one_line_and_exit_2(port, monkeypatch, capsys):
    from bot.app import main

    monkeypatch.setenv("WEB_PORT", port)
    assert main(["--web"]) == 2
    assert "WEB_PORT" in capsys.readouterr().err


def test_any_typed_search_is_answered_and_never_markup_through_the_page(web):
    at = visit()

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st_h.text(st_h.characters(codec="utf-8"), min_size=1, max_size=300))
    def typed(text):
        at.text_input(key="query").input(text).run()
        never_html(at)

    typed()


def test_without_a_model_the_page_says_what_to_do(web, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELS_DIR", str(tmp_path / "empty"))
    reset()
    at = visit()
    assert "The web app can't start: No model in" in plain(at.error[0].value)
    assert "python -m jobs train" in plain(at.error[0].value)


# ----- importing and exporting -----------------------------------------------------------

def upload(at: AppTest, name: str, data: bytes, mime: str = "text/csv") -> AppTest:
    go(at, "Your account")
    return at.file_uploader[0].upload(name, data, mime).run()


def test_importing_an_imdb_csv_shows_the_report_and_first_picks(web):
    at = visit()
    go(at, "Your account")
    uploader = at.file_uploader[0]
    assert uploader.label == "IMDb or Letterboxd export (.csv or .zip)"
    assert set(uploader.allowed_type) == {".csv", ".zip"}
    assert uploader.proto.max_upload_size_mb == UPLOAD_MB == 6  # above the core's 5 MB
    upload(at, "ratings.csv", exports.imdb_ratings())
    page = shown(at)
    assert "📥 Your IMDb file: 9 titles." in page
    assert "✅ Matched 7: 6 liked, 1 disliked." in page
    assert "Saved. /likes shows it" in page
    assert "Picks for you:" in page and "Return of the Jedi (1983)" in page
    never_html(at)
    # The control is emptied (a new key), so Streamlit holds the file no longer, and no
    # copy of its bytes is left in the session.
    assert [u.key for u in at.file_uploader] == ["upload1"]
    assert not any(isinstance(at.session_state[k], bytes | bytearray)
                   or hasattr(at.session_state[k], "getvalue") for k in at.session_state)
    go(at, "Watchlist & likes")
    page = shown(at).replace("**", "")
    assert "What you told me (7)" in page and "⭐ 4/5: The Godfather (1972)" in page
    assert "⭐ 5/5: Breaking Bad (2008) [TV]" in page
    # The same file again changes nothing.
    upload(at, "ratings.csv", exports.imdb_ratings())
    assert "Nothing changed: all of it was here already." in shown(at)


def test_importing_a_letterboxd_zip(web):
    at = upload(visit(), "letterboxd-ann-2024-01-13-utc.zip", exports.letterboxd_zip(),
                "application/zip")
    assert "📥 Your Letterboxd file:" in shown(at)
    go(at, "Watchlist & likes")
    page = shown(at)
    assert "Return of the Jedi (1983)" in page.split("Your watchlist")[1]
    assert "❤ liked: The Empire Strikes Back (1980)" in page


@pytest.mark.parametrize(("name", "data", "says"), [
    ("ratings.csv", b"\x89PNG\r\n\x1a\n\x00\x00", "not a CSV"),
    ("contacts.csv", b"name,email\nann,a@b.c\n", "don't recognise"),
    ("export.zip", b"PK\x03\x04garbage", "damaged"),
    ("ratings.csv", b"", "empty"),
    ("ratings.csv", b"Const,Your Rating\n" + b"x" * MAX_BYTES, "I take up to 5 MB"),
])
def test_a_bad_or_too_big_file_gets_one_friendly_line_and_changes_nothing(web, name, data,
                                                                          says):
    at = liked_star_wars()
    upload(at, name, data)
    page = shown(at)
    assert says in page and "⚠" in page and "Traceback" not in page
    never_html(at)
    go(at, "Watchlist & likes")
    assert "❤ liked: Star Wars (1977)" in shown(at)


def test_show_all_guesses_and_misses_works_on_the_web(web):
    unknown = [(f"tt99{n:05d}", 8, "2024-03-01", f"No Such Film {n}", "movie", 2000 + n, "",
                "") for n in range(12)]
    at = upload(visit(), "ratings.csv", exports.imdb_ratings(exports.IMDB_ROWS + unknown))
    assert "❓ Not in my catalogue, 14:" in shown(at) and "and 4 more." in shown(at)
    click(at, "Show all guesses and misses")
    page = shown(at)
    assert "1 guessed and 14 not found:" in page
    assert "No Such Film 11 (2011): not found" in page and "No Such Film 0 (2000)" in page


def test_beyond_a_hundred_misses_the_list_is_a_download(web, monkeypatch):
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", KeptMedia)
    unknown = [(f"tt99{n:05d}", 8, "2024-03-01", f"No Such Film {n}", "movie", 1900 + n, "",
                "") for n in range(110)]
    at = upload(visit(), "ratings.csv", exports.imdb_ratings(exports.IMDB_ROWS + unknown))
    click(at, "Show all guesses and misses")
    assert "… all 113 are in the file." in shown(at)
    listing = downloads(at)["import-not-matched.csv"].decode()
    assert listing.count("No Such Film") == 110 and listing.startswith("Title,Year,Matched as")


class KeptMedia(MemoryMediaFileStorage):
    """Streamlit's in-memory media of a test run, kept after the run so a test can read
    what a download button offers."""

    def delete_file(self, file_id: str) -> None:
        pass

    made: ClassVar[list[KeptMedia]] = []  # the last few runs' (older ones are dropped)

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        del KeptMedia.made[:-4]
        KeptMedia.made.append(self)


def downloads(at: AppTest) -> dict[str, bytes]:
    """File name -> the bytes each download button on the page gives."""
    found = {}
    for button in at.get("download_button"):
        filename = button.proto.url.rsplit("/", 1)[1]
        for storage in reversed(KeptMedia.made):
            try:
                file = storage.get_file(filename)
            except MediaFileStorageError:  # another run's storage
                continue
            found[file.filename] = file.content
            break
    return found


def test_export_downloads_the_core_files_and_importing_the_csv_gives_the_same_taste(
        web, monkeypatch):
    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", KeptMedia)
    at = liked_star_wars()
    search(at, "fargo")
    at.select_slider[0].set_value(4.5).run()
    click(at, "Rate")
    search(at, "notting hill")
    click(at, "Dislike")
    search(at, "aliens")
    click(at, "➕ Watchlist")
    go(at, "Your account")
    click(at, "Export my data")
    assert "Here is everything I know about you: 4 titles" in shown(at)
    files = downloads(at)
    assert set(files) == {"movie-bot-export.csv", "movie-bot-export.json"}
    assert [b.label for b in at.get("download_button")] == [
        "⬇ Download movie-bot-export.csv", "⬇ Download movie-bot-export.json"]
    rows = list(csv.DictReader(io.StringIO(files["movie-bot-export.csv"].decode("utf-8-sig"))))
    assert {r["Title"] for r in rows} == {"Star Wars", "Fargo", "Notting Hill", "Aliens"}
    everything = json.loads(files["movie-bot-export.json"])
    assert len(everything["ratings"]) == 3 and len(everything["watchlist"]) == 1
    # Another visitor imports the CSV and has the same taste.
    other = upload(visit(), "movie-bot-export.csv", files["movie-bot-export.csv"])
    assert "Matched 4" in shown(other)
    db = Storage(web)
    try:
        mine, theirs = (db.user("web", a.session_state["visitor"]) for a in (at, other))
        assert sorted(db.ratings_of(theirs)) == sorted(db.ratings_of(mine))
        assert ([w.item_id for w in db.watchlist(theirs)]
                == [w.item_id for w in db.watchlist(mine)])
    finally:
        db.close()


def test_a_linked_visitor_imports_into_the_chat_account(web):
    bot = chat(web)
    code = code_in(bot.handle_text(ANN, "/link")[0].text)
    at = link(visit(), code)
    upload(at, "ratings.csv", exports.imdb_ratings())
    ann = bot.db.user("telegram", "1001")
    assert (100, 4.5) in bot.db.ratings_of(ann)  # Fargo's 9/10, from the file


# ----- wrong link codes ------------------------------------------------------------------

def test_wrong_link_codes_are_limited_per_visitor_by_the_injected_clock(web):
    now = [1_800_000_000.0]
    bot = Conversation(small_model(), Storage(web, clock=lambda: now[0]),
                       clock=lambda: now[0])
    code = code_in(bot.handle_text(ANN, "/link")[0].text)
    wrong = next(c for c in ("AAAA-AAAA", "BBBB-BBBB") if c != code)
    eve = Visit(bot, new_visitor_id())
    for _ in range(linking.WRONG_PER_VISITOR):
        assert "wrong, used or expired" in eve.link(wrong).intro
        now[0] += 1
    assert "Please type" in eve.link("").intro  # not a guess: never counted nor refused
    assert "wait 10 minutes" in eve.link(code).intro  # even the right code: not tried
    bob = Visit(bot, new_visitor_id(), wrong_codes=eve.wrong_codes)
    assert "wrong, used or expired" in bob.link(wrong).intro  # others are not held up
    now[0] += linking.WINDOW_SECONDS - linking.WRONG_PER_VISITOR - 60
    assert "wait 1 minute " in eve.link(code).intro
    now[0] += 61  # the first wrong code is out of the window (and the code expired)
    assert "wrong, used or expired" in eve.link(code).intro
    assert "Linked" in eve.link(code_in(bot.handle_text(ANN, "/link")[0].text)).intro
    bot.db.close()


def test_wrong_link_codes_of_all_visitors_together_are_limited():
    attempts = linking.Attempts(per_visitor=5, everyone=20, window=600)
    now = 1000.0
    for n in range(20):
        assert attempts.wait(f"visitor{n}", now) == 0
        attempts.wrong(f"visitor{n}", now + n)
    assert attempts.wait("somebody new", now + 20) == 580  # a new cookie is no way round
    assert attempts.wait("somebody new", now + 600) == 0


def test_the_page_says_to_wait_after_five_wrong_codes(web):
    at = visit()
    for _ in range(linking.WRONG_PER_VISITOR):
        link(at, "ZZZZ-ZZZZ")
        assert "wrong, used or expired" in shown(at)
    link(at, "ZZZZ-ZZZZ")
    assert "Too many wrong codes for now. Please wait 10 minutes" in shown(at)
