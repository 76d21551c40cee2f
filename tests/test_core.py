"""The conversation core, table-driven, on a real SQLite file and a small real model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import Conversation, UserRef
from storage import Storage

ANN = UserRef("telegram", "9223372036854775807", "Ann")
BOB = UserRef("discord", "9223372036854775807", "Bob")
ADMIN = UserRef("telegram", "42", "Root")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def db(tmp_path):
    storage = Storage(tmp_path / "bot.sqlite3", clock=Clock())
    yield storage
    storage.close()


@pytest.fixture
def bot(model, db):
    return Conversation(model, db, admin_ids=["42"])


def say(bot, text, user=ANN):
    replies = bot.handle_text(user, text)
    assert replies and all(r.text for r in replies)
    return replies


def press(bot, reply, label_part, user=ANN):
    for row in reply.buttons:
        for button in row:
            if label_part in button.label:
                assert len(button.data.encode()) <= 64
                return bot.handle_button(user, button.data)
    raise AssertionError(f"no button {label_part!r} in {reply.buttons}")


@pytest.mark.parametrize(("text", "expected"), [
    ("/help", "/like <title>"),
    ("/like", "Which title?"),
    ("/like star wars", "Liked Star Wars (1977)"),
    ("/like Empire Strikes Back, The", "Liked The Empire Strikes Back (1980)"),
    ("/like dune 2021", "Liked Dune (2021)"),
    ("/like dune", "Several titles match"),
    ("/like zzzzqqqq", "nothing close"),
    ("/dislike notting hill", "you don't like Notting Hill"),
    ("/unlike fargo", "You hadn't rated Fargo"),
    ("/rate fargo 4.5", "Rated Fargo (1996): 4.5/5"),
    ("/rate fargo 4,5", "4.5/5"),
    ("/rate fargo 99", "Ratings go from 1 to 5"),
    ("/rate fargo", "Tell me a title and 1 to 5 stars"),
    ("/likes", "You haven't told me anything yet"),
    ("/watchlist", "Your watchlist is empty"),
    ("/watch alien", "Added Alien (1979) to your /watchlist"),
    ("/unwatch alien", "wasn't on your watchlist"),
    ("/more", "Ask /recommend first"),
    ("/recommend 5 cartoons", "I don't understand \"cartoons\""),
    ("/similar star wars", "More like Star Wars"),
    ("/why fargo", "You haven't liked anything yet"),
    ("/stats", "only for the bot's admins"),
    ("/retrain", "Sorry, /retrain is only for the bot's admins"),
    ("/rollback", "Sorry, /rollback is only for the bot's admins"),
    ("/frobnicate", "I don't know /frobnicate"),
    ("", "Send me a title"),
    ("star wars", "Star Wars (1977)"),
    ("/like@test_bot star wars", "Liked Star Wars"),
])
def test_each_command_answers(bot, text, expected):
    assert expected in say(bot, text)[0].text


def test_new_user_goes_from_start_to_recommendations(bot, db):
    start = say(bot, "/start")[0]
    assert "Tap a few favourites" in start.text and len(start.buttons) >= 5
    assert "Star Wars" in start.text or any("Star Wars" in b.label for r in start.buttons
                                            for b in r)
    press(bot, start, "Star Wars")
    say(bot, "/like empire strikes back")
    picks = say(bot, "/recommend 3")[0]
    assert picks.text.startswith("Picks for you:")
    assert "1. Return of the Jedi (1983)" in picks.text
    assert "because you liked" in picks.text
    assert "Star Wars" not in picks.text.split("\n", 1)[1].split("because")[0]
    # Taste changes at once: like a romance and romances enter the list (below the five
    # sci-fi films two sci-fi likes call for).
    romances = ("Love Actually", "Pretty Woman")
    assert not any(title in say(bot, "/recommend 6")[0].text for title in romances)
    say(bot, "/like notting hill")
    after = say(bot, "/recommend 6")[0].text
    assert any(f"6. {title}" in after for title in romances), after


def test_buttons_like_dismiss_watch_and_seen(bot, db):
    say(bot, "/like star wars")
    picks = say(bot, "/recommend 4")[0]
    uid = db.user("telegram", ANN.platform_user_id)
    liked = press(bot, picks, "1 👍")[0]
    assert liked.notice == "Liked"
    press(bot, picks, "2 👎")
    press(bot, picks, "3 ➕")
    press(bot, picks, "4 ✔")
    assert db.count_watchlist(uid) == 1
    after = say(bot, "/recommend 10")[0].text
    first_four = [line for line in picks.text.splitlines() if line[:2] in ("1.", "2.", "3.",
                                                                         "4.")]
    for line in first_four:
        assert line.split(". ", 1)[1].split(" ·")[0] not in after


def test_more_pages_through_the_same_list(bot):
    say(bot, "/like star wars")
    first = say(bot, "/recommend 2")[0]
    assert "More picks ▶" in [b.label for row in first.buttons for b in row]
    second = say(bot, "/more")[0]
    assert second.text.startswith("More picks:") and "3. " in second.text


def test_ambiguous_title_offers_choices_that_work(bot):
    choose = say(bot, "/like dune")[0]
    labels = [b.label for row in choose.buttons for b in row]
    assert "Dune (1984)" in labels and "Dune (2021)" in labels
    done = press(bot, choose, "Dune (2021)")[0]
    assert "Liked Dune (2021)" in done.text
    rated = say(bot, "/rate dune 3")[0]
    assert "Rated Dune (1984): 3/5" in press(bot, rated, "Dune (1984)")[0].text


def test_likes_are_listed_newest_first_and_paged(bot):
    for title in ["star wars", "alien", "aliens", "fargo", "the godfather", "notting hill"]:
        say(bot, f"/like {title}")
    page = say(bot, "/likes")[0]
    assert page.text.splitlines()[1] == "❤ liked: Notting Hill (1999)"
    older = press(bot, page, "Older")[0]
    assert older.edit and "Star Wars" in older.text


def test_watchlist_buttons(bot):
    say(bot, "/watch alien")
    say(bot, "/watch fargo")
    page = say(bot, "/watchlist")[0]
    assert "1. Fargo (1996)" in page.text
    removed = press(bot, page, "1 ✖ remove")[0]
    assert removed.edit and "Fargo" not in removed.text and "Alien" in removed.text


def test_why_explains_with_likes(bot):
    say(bot, "/like star wars")
    assert "because you liked Star Wars" in say(bot, "/why return of the jedi")[0].text


def test_forget_needs_confirmation_and_removes_everything(bot, db):
    say(bot, "/like star wars")
    say(bot, "/watch alien", user=ANN)
    say(bot, "/like fargo", user=BOB)
    ask = say(bot, "/forget")[0]
    kept = press(bot, ask, "No")[0]
    assert "Nothing was deleted" in kept.text
    uid = db.user("telegram", ANN.platform_user_id)
    assert db.count_feedback(uid) == 1
    gone = press(bot, ask, "Yes")[0]
    assert "deleted" in gone.text
    assert "You haven't told me anything yet" in say(bot, "/likes")[0].text
    bob = db.user("discord", BOB.platform_user_id)
    assert db.count_feedback(bob) == 1  # another user's taste is untouched
    assert db.integrity_ok()


def test_tastes_are_kept_apart_per_platform_user(bot, db):
    say(bot, "/like star wars", user=ANN)
    say(bot, "/like notting hill", user=BOB)
    assert "because you liked Star Wars" in say(bot, "/recommend 1", user=ANN)[0].text
    assert "because you liked Notting Hill" in say(bot, "/recommend 1", user=BOB)[0].text
    assert "Love Actually" in say(bot, "/recommend 1", user=BOB)[0].text


def test_admin_stats(bot):
    say(bot, "/like star wars")
    stats = say(bot, "/stats", user=ADMIN)[0].text
    assert "Users: 2" in stats and "Model: test-model" in stats
    assert "trained 2026-11-24T22:10:52+00:00" in stats
    assert "Evaluation (recommenders): nDCG@10 0.4795, precision@10 0.4218" in stats
    assert "/stats" in say(bot, "/help", user=ADMIN)[0].text


def test_filters_and_cold_start(bot):
    cold = say(bot, "/recommend")[0].text
    assert "popular, well-rated" in cold
    tv = say(bot, "/recommend tv")[0].text
    assert "Breaking Bad (2008) [TV]" in tv
    assert "Nothing matches" in say(bot, "/recommend 1950-1960")[0].text


def test_expired_or_forged_buttons_are_harmless(bot):
    for data in ["", "like:", "like:abc", "like:999999999", "pick:x:1", "zzz:1", "likes:-5",
                 "forget:", "pick:like", "wl:99999999999999999999"]:
        replies = bot.handle_button(ANN, data)
        assert replies and replies[0].text


def test_a_session_survives_a_restart(model, tmp_path):
    path = tmp_path / "bot.sqlite3"
    first = Conversation(model, Storage(path))
    say(first, "/like star wars")
    first.db.close()
    second = Conversation(model, Storage(path))
    assert "❤ liked: Star Wars (1977)" in say(second, "/likes")[0].text


BAD = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", " ", "🎬🍿", "\u202eevil", "\x00\x01\x02", "'; DROP TABLE users; --",
                     "x" * 10_000, "/like", "/rate x 99", "/rate  ", "/recommend 99999",
                     "/recommend -1", "/like " + "🎬" * 5000, "/why", "/similar"]),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(["", "/like ", "/dislike ", "/unlike ", "/rate ", "/recommend ",
                                "/similar ", "/why ", "/watch ", "/unwatch ", "/likes ",
                                "/watchlist ", "/more ", "/start ", "/help ", "/forget ",
                                "/stats "]),
       text=BAD)
def test_bad_input_always_gets_a_reply_and_never_loses_data(bot, db, command, text):
    say(bot, "/like star wars", user=BOB)
    bob = db.user("discord", BOB.platform_user_id)
    before = db.count_feedback(bob)
    replies = bot.handle_text(ANN, command + text)
    assert replies and all(isinstance(r.text, str) and r.text for r in replies)
    assert db.count_feedback(bob) == before
    assert db.integrity_ok()


def test_movie_night_for_a_group(bot):
    room = "telegram:-100500"
    ann = UserRef("telegram", "11", "Ann", room)
    bob = UserRef("telegram", "12", "Bob", room)
    cy = UserRef("telegram", "13", "Cy", room)
    assert "Movie night is for group chats" in say(bot, "/movienight join")[0].text
    assert "Nobody has joined yet" in say(bot, "/movienight", user=ann)[0].text
    say(bot, "/like star wars", user=ann)
    say(bot, "/like godfather", user=bob)
    bot.handle_button(bob, "pick:like:127")
    assert say(bot, "/movienight join", user=ann)[0].text.startswith(
        "🍿 Ann is in for movie night. In so far: Ann.")
    assert "Only Ann has joined" in say(bot, "/movienight", user=ann)[0].text
    assert "In so far: Ann, Bob." in say(bot, "/movienight join", user=bob)[0].text
    assert "Bob, you're already in" in say(bot, "/movienight join", user=bob)[0].text
    say(bot, "/watch the empire strikes back", user=ann)  # wanted, not seen: fair game
    bot.handle_button(bob, "seen:100")  # Bob has seen Fargo

    [reply] = say(bot, "/movienight", user=cy)  # anyone in the room may ask
    text = reply.text
    assert text.startswith("🍿 Movie night for Ann and Bob:")
    assert "The Empire Strikes Back (1980)" in text and "for Ann" in text
    assert "The Godfather: Part II (1974)" in text and "for Bob" in text
    assert "Fargo" not in text and "1. Star Wars (" not in text
    assert [c.item_id for c in reply.cards][:5] == [int(b.data.split(":")[1])
                                                    for b, _seen in reply.buttons]
    assert say(bot, "/movienight leave", user=bob)[0].text == "Bob left movie night."
    assert "Only Ann has joined" in say(bot, "/movienight", user=ann)[0].text
    assert "Try /movienight join" in say(bot, "/movienight tomorrow", user=ann)[0].text


def test_picks_link_to_imdb_where_the_id_is_known(chat_with):
    chat = chat_with()
    say(chat, "/like the godfather part ii")
    [reply] = say(chat, "/recommend 8")
    linked = {c.heading.split(". ", 1)[1].split(" ·")[0]: c.link for c in reply.cards}
    assert linked["The Godfather (1972)"] == "https://www.imdb.com/title/tt0068646/"
    assert linked["Fargo (1996)"] == "https://www.imdb.com/title/tt0116282/"
    assert linked["Alien (1979)"] is None  # no IMDb id in this catalogue: no link
    assert "   IMDb: https://www.imdb.com/title/tt0068646/" in reply.text
    [card] = say(chat, "the godfather 1972")
    assert card.cards[0].link == "https://www.imdb.com/title/tt0068646/"
