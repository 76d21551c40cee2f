"""The web app's side of the conversation, without Streamlit: who the visitor is, what
they typed, and every action as a call into the conversation core.

``bot/web.py`` draws; this module decides. A visitor is a random id kept in a cookie
(never a number someone could count up to), stored as its own namespace ("web") in the
bot's database. A visitor who entered a /link code acts as their Telegram or Discord
account from then on. Likes, recommendations, the watchlist and movie night are the
core's commands and buttons; this module only builds their arguments and checks what
was typed, so no field ever reaches the core empty, overlong or with control characters.
An uploaded IMDb or Letterboxd export goes to the core's import as bytes and is dropped
there; /export's files come from the core too.
"""

from __future__ import annotations

import functools
import math
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot import linking
from bot.app import load_model
from bot.commands import Args
from bot.core import Conversation, UserRef
from bot.formats import MAX_BYTES
from bot.payloads import (
    Chosen,
    Dislike,
    Forget,
    Like,
    LikesPage,
    Payload,
    Watch,
    WatchlistPage,
    encode,
)
from bot.replies import Button, Card, Reply, describe, imdb_url
from bot.settings import BotSettings
from bot.watch import ModelWatcher
from storage import Storage

PLATFORM = "web"
COOKIE = "movie_visitor"
COOKIE_DAYS = 400  # the longest browsers keep a cookie
_VISITOR = re.compile(r"[A-Za-z0-9_-]{32}")
MAX_QUERY = 200  # characters: no title is longer
MAX_NAME = 40
MAX_ROOM = 40
SEARCH_RESULTS = 8
WATCH_SECONDS = 5  # how often the model pointer is checked, as in the bot
MAX_FILENAME = 200  # characters of an uploaded file's name passed on (only its ending matters)


@functools.cache
def settings() -> BotSettings:
    """The environment and ``.env``, read once per process like the bot does."""
    return BotSettings.from_env()


_serving = threading.Lock()
# Wrong /link codes typed on this server (the one place codes are typed).
_attempts = linking.Attempts()


def attempts() -> linking.Attempts:
    return _attempts


def served() -> Conversation:
    """The one conversation of this server process: the current model and its title
    index, the bot's database, and a watcher that swaps in a new ``models/current``
    between requests. Built by the first session to ask; the others wait for it."""
    with _serving:
        return _conversation()


@functools.cache
def _conversation() -> Conversation:
    paths = settings().recommender
    conversation = Conversation(load_model(paths.models_dir), Storage(paths.db_path))
    watcher = ModelWatcher(conversation, paths.models_dir)

    def watch() -> None:
        while not threading.Event().wait(WATCH_SECONDS):
            watcher.check()

    threading.Thread(target=watch, name="model-watcher", daemon=True).start()
    return conversation


def reset() -> None:
    """Read the settings afresh and build a new conversation on next use, closing the
    old database, and forget wrong link codes (as a new server process would: for tests)."""
    global _attempts
    with _serving:
        _attempts = linking.Attempts()
        if _conversation.cache_info().currsize:
            _conversation().db.close()
        _conversation.cache_clear()
        settings.cache_clear()


def new_visitor_id() -> str:
    """192 random bits, URL-safe: nobody can guess another visitor's id."""
    return secrets.token_urlsafe(24)


def visitor_from_cookie(value: str | None) -> str | None:
    """The visitor id a cookie carries, or None when it is missing or not one of ours."""
    return value if isinstance(value, str) and _VISITOR.fullmatch(value) else None


def check(text: str | None, what: str, limit: int) -> tuple[str, str | None]:
    """``text`` cleaned (control characters dropped, spaces trimmed) and a friendly
    problem, or None. Right-to-left and other scripts are fine; HTML is just text."""
    clean = "".join(c for c in (text or "")
                    if unicodedata.category(c) not in ("Cc", "Cs")).strip()
    if not clean:
        return "", f"Please type {what}."
    if len(clean) > limit:
        return clean[:limit], (f"That is too long: {what} has at most {limit} characters "
                               f"(you typed {len(clean):,}).")
    return clean, None


def shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Filters:
    """The recommendation filters of the web page."""

    count: int = 5
    kind: str | None = None  # "movie", "tv" or None for both
    genres: tuple[str, ...] = ()
    years: tuple[int, int] | None = None
    min_rating: float | None = None  # IMDb rating, 1-10

    def args(self) -> Args:
        return Args(count=self.count, kind=self.kind, genres=self.genres, years=self.years,
                    min_rating=self.min_rating)


class Visit:
    """One visitor's session: every action goes to the core as the visitor, or as the
    chat account they linked."""

    def __init__(self, conversation: Conversation, visitor_id: str,
                 name: str | None = None, wrong_codes: linking.Attempts | None = None
                 ) -> None:
        self.conversation = conversation
        self.visitor_id = visitor_id
        self.name = name
        self.wrong_codes = wrong_codes if wrong_codes is not None else attempts()

    @property
    def db(self) -> Storage:
        return self.conversation.db

    def _own_uid(self) -> int:
        return self.db.user(PLATFORM, self.visitor_id, self.name)

    def user(self, room: str | None = None) -> UserRef:
        """Who the core sees: the linked chat account if there is one, else the visitor."""
        linked = self.db.linked_account(self._own_uid())
        if linked is not None:
            platform, key, their_name = linked
            return UserRef(platform, key, self.name or their_name, room)
        return UserRef(PLATFORM, self.visitor_id, self.name, room)

    def linked_to(self) -> str | None:
        """"Telegram account Ann" when linked, else None."""
        linked = self.db.linked_account(self._own_uid())
        if linked is None:
            return None
        platform, _key, their_name = linked
        return f"{platform.capitalize()} account" + (f" {their_name}" if their_name else "")

    # ----- searching ---------------------------------------------------------------

    def search(self, query: str) -> Reply:
        """Live fuzzy matches for a typed title, each a card told apart by year and kind,
        with the buttons that act on it."""
        clean, problem = check(query, "a title", MAX_QUERY)
        if problem:
            return Reply(problem)
        index, rec = self.conversation.title_index, self.conversation.recommender
        match = index.search(clean, limit=SEARCH_RESULTS)
        if not match.candidates:
            return Reply(f"I found nothing close to \"{shorten(clean)}\". Check the spelling, "
                         "or try the original title.")
        intro = {"found": "Found it:", "ambiguous": "Several titles match. Which one?"}.get(
            match.status, f"Nothing matches \"{shorten(clean)}\" exactly. Did you mean:")
        cards, buttons = [], []
        for candidate in match.candidates:
            cards.append(Card(describe(candidate), self._genres(candidate.item_id),
                              candidate.item_id, imdb_url(rec.imdb_id(candidate.item_id))))
            buttons.append(item_buttons(candidate.item_id))
        return Reply(intro, cards=cards, buttons=buttons)

    def _genres(self, item_id: int) -> str:
        rec = self.conversation.recommender
        rows = rec.rows_of([item_id])
        return ", ".join(rec.genre_lists[rows[0]][:3]) if len(rows) else ""

    # ----- the core's commands and buttons ---------------------------------------------

    def press(self, data: str) -> list[Reply]:
        """A button of a reply this visitor was shown."""
        return self.conversation.handle_button(self.user(), data)

    def _payload(self, payload: Payload) -> list[Reply]:
        return self.press(encode(payload))

    def recommend(self, filters: Filters) -> list[Reply]:
        return self.conversation.handle_args(self.user(), "recommend", filters.args())

    def likes(self, page: int = 0) -> list[Reply]:
        return self._payload(LikesPage(page))

    def watchlist(self, page: int = 0) -> list[Reply]:
        return self._payload(WatchlistPage(page))

    def forget(self) -> list[Reply]:
        """Everything about the visitor deleted: the taste they act with (their linked
        account's, if linked) and the web profile itself."""
        replies = self._payload(Forget(True))
        self.db.forget(self._own_uid())
        # The chats edit the confirmation message in place; here it is a new message.
        return [replace(r, edit=False) for r in replies]

    def movie_night(self, room: str, action: str) -> list[Reply]:
        """Join, leave or pick for a named room of web visitors."""
        clean, problem = check(room, "a room name", MAX_ROOM)
        if problem:
            return [Reply(problem)]
        if action not in ("join", "leave", "pick"):
            return [Reply("Choose join, leave or pick.")]
        return self.conversation.handle_command(self.user(room_key(clean)), "movienight",
                                                {"action": action})

    # ----- importing and exporting ------------------------------------------------------

    def upload(self, data: bytes, filename: str, size: int) -> list[Reply]:
        """An IMDb or Letterboxd export the visitor chose, imported into the taste they act
        with: the core's report and first picks. A file over the limit is refused by its
        size, its bytes unread; none are kept."""
        if size > MAX_BYTES:
            data = b""
        return self.conversation.handle_upload(self.user(), data,
                                               (filename or "")[:MAX_FILENAME], size=size)

    def export(self) -> list[Reply]:
        """/export: the core's reply with its CSV and JSON files."""
        return self.conversation.handle_command(self.user(), "export")

    # ----- linking -----------------------------------------------------------------

    def link(self, typed: str) -> Reply:
        clean, problem = check(typed, "the code from /link", linking.MAX_TYPED)
        if problem:
            return Reply(problem)
        now = self.conversation.clock()
        wait = self.wrong_codes.wait(self.visitor_id, now)
        if wait > 0:  # checked before the code is: a guess past the limit learns nothing
            minutes = math.ceil(wait / 60)
            return Reply(f"Too many wrong codes for now. Please wait {minutes} minute"
                         f"{'' if minutes == 1 else 's'} and try again, or send /link to the "
                         "bot for a fresh code.")
        linked = linking.redeem(self.db, self._own_uid(), clean)
        if linked is None:
            if linking.normalise(clean) is not None:  # a well-formed guess, not a typo'd shape
                self.wrong_codes.wrong(self.visitor_id, now)
            return Reply("That code is wrong, used or expired. Send /link to the bot on "
                         "Telegram or Discord for a new one; it lasts "
                         f"{linking.TTL_SECONDS // 60} minutes and works once.")
        (platform, _key, _name), copied = linked
        brought = "" if not copied else (
            " The title you rated here is in it now." if copied == 1 else
            f" The {copied} titles you rated here are in it now.")
        return Reply(f"Linked: this browser now uses the likes and watchlist of your "
                     f"{platform.capitalize()} account.{brought}", notice="Linked")

    def unlink(self) -> Reply:
        if self.db.unlink(self._own_uid()):
            return Reply("Unlinked: this browser has its own taste again.", notice="Unlinked")
        return Reply("This browser isn't linked to a chat account.")


def room_key(name: str) -> str:
    """The storage key of a web movie-night room: its name, in any case and spacing."""
    return f"web:{' '.join(name.casefold().split())}"


def item_buttons(item_id: int) -> list[Button]:
    """What a search result offers: like, dislike, watchlist, more like it, why."""
    return [Button("❤ Like", Like(item_id)), Button("👎 Dislike", Dislike(item_id)),
            Button("➕ Watchlist", Watch(item_id)), Button("≈ More like this",
                                                          Chosen("similar", item_id)),
            Button("? Why", Chosen("why", item_id))]


def about(conversation: Conversation, models_dir: Path, status: list[str]) -> dict[str, Any]:
    """What the "About the model" page shows: version, training date, data, parameters,
    the evaluation figures (protocol -> model -> metric -> value), the plots found beside
    the model, and the retraining ``status`` lines."""
    rec = conversation.recommender
    meta = rec.meta or {}
    plots = sorted((models_dir / rec.version / "evaluation").glob("*.png"))
    return {"version": rec.version, "trained_at": meta.get("trained_at") or "unknown",
            "data": meta.get("data") or "unknown", "params": dict(rec.params or {}),
            "items": len(rec.ids), "metrics": meta.get("metrics") or {}, "plots": plots,
            "schedule": status}
