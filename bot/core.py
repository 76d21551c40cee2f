"""The conversation core: every command, knowing nothing about chat platforms.

Adapters (console, Telegram, Discord) turn what a person typed, chose or tapped into
:meth:`Conversation.handle_text`, :meth:`Conversation.handle_command` (typed options)
and :meth:`Conversation.handle_button` calls and render the structured
:class:`~bot.replies.Reply` objects they get back. Each command is declared once, on
its handler, with :func:`bot.commands.command`; the registry built from those
declarations (:data:`COMMANDS`) generates /help and every platform's menu.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import singledispatchmethod
from typing import Any, Protocol

from bot.commands import (
    COUNT,
    FILE,
    GENRE,
    KIND,
    STARS,
    TITLE,
    YEARS,
    Args,
    BadArguments,
    Command,
    Param,
    Registry,
    collect,
    command,
)
from bot.examples import example_titles
from bot.inline import item_of
from bot.linking import issue as link_code
from bot.matching import Candidate, Match, TitleIndex
from bot.payloads import (
    Chosen,
    Dislike,
    Forget,
    FreshPicks,
    ImportMisses,
    Like,
    LikesPage,
    MorePicks,
    NotInterested,
    Page,
    RemoveFromWatchlist,
    Seen,
    Watch,
    WatchlistPage,
    decode,
)
from bot.replies import Button, Card, Reply, describe, imdb_url, joined
from bot.transfer import HOW_TO, Imports
from recommender.errors import RecommenderError
from recommender.preferences import split
from recommender.serve import Recommendation, Recommender, trim_heap
from storage import InvalidRating, Storage, StorageFull

log = logging.getLogger(__name__)

PAGE = 5
MAX_TEXT = 500  # longer messages are cut before matching: no title is that long
LIST_SIZE = 50  # how many picks one /recommend computes; /more pages through them
GROUP_PICKS = 5
SORRY = "Sorry, something went wrong on my side and nothing was changed. Please try again."
EXPIRED = "That button has expired."
FULL = ("I couldn't save that: the bot's disk is full. Nothing was changed; please try "
        "again later.")
MOVIE_NIGHT = Param("choice", "join or leave movie night here, or pick (the default)",
                    choices=("pick", "join", "leave"), name="action")


@dataclass(frozen=True)
class UserRef:
    platform: str
    platform_user_id: str
    name: str | None = None
    room: str | None = None  # the group chat or server channel, None in a private chat


@dataclass(frozen=True)
class Ask:
    """One command as a handler sees it: who asked (their database id too) and what."""

    uid: int
    user: UserRef
    args: Args


class Jobs(Protocol):
    """What the core needs from the retraining service (:class:`jobs.service.RetrainService`)."""

    def retrain(self, requested_by: UserRef | None, trigger: str = ...) -> str: ...
    def rollback(self) -> str: ...
    def status(self) -> list[str]: ...


@dataclass(frozen=True)
class Served:
    """A model and its title index: always swapped together."""

    recommender: Recommender
    title_index: TitleIndex


@dataclass
class PickList:
    """A user's last /recommend: every pick computed, how many are shown, the page size."""

    picks: list[Recommendation]
    shown: int
    page_size: int


def index_titles(recommender: Recommender) -> TitleIndex:
    """The title index of a model's catalogue, and the heap its building freed returned."""
    index = TitleIndex.from_recommender(recommender)
    trim_heap()  # building the index frees as much as it keeps
    return index


def numbered_heading(number: int, item: Recommendation) -> str:
    """"1. Fargo (1996) · Crime, Thriller"."""
    genres = f" · {', '.join(item.genres[:3])}" if item.genres else ""
    return f"{number}. {describe(item)}{genres}"


def _unless_full(handle: Callable[..., list[Reply]]) -> Callable[..., list[Reply]]:
    """An entry point that answers :data:`FULL` when the disk fills up before a command
    runs (a new user's first message is a write too)."""
    @functools.wraps(handle)
    def answer(*args: Any, **kwargs: Any) -> list[Reply]:
        try:
            return handle(*args, **kwargs)
        except StorageFull:
            log.error("not saved: the database's disk is full")
            return [Reply(FULL, notice="Not saved")]
    return answer


class Conversation:
    """One bot brain shared by every adapter; safe to call from several threads.

    A new model is swapped in with :meth:`swap`; each request keeps the model it
    started with, so no request ever mixes two models.
    """

    commands: Registry  # every command declared on the class; see COMMANDS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass serves its own commands too: declaring one is all it takes."""
        super().__init_subclass__(**kwargs)
        cls.commands = collect(cls)

    def __init__(self, recommender: Recommender, storage: Storage, *,
                 title_index: TitleIndex | None = None, admin_ids: Sequence[str] = (),
                 clock: Callable[[], float] = time.time, jobs: Jobs | None = None,
                 commands: Registry | None = None) -> None:
        self._request = threading.local()
        self.db = storage
        self.admin_ids = {str(a) for a in admin_ids}
        self.clock = clock
        self.jobs = jobs
        self._declared = commands or type(self).commands
        self.swap(recommender, title_index)  # the model, its title index and examples
        self._outboxes: dict[str, Callable[[str, str], None]] = {}
        self._lists: dict[int, PickList] = {}  # user -> their last /recommend
        self._lock = threading.Lock()
        self.imports = Imports(clock)

    # ----- the model being served ------------------------------------------------------

    @property
    def served(self) -> Served:
        """The model of the request in progress on this thread, else the newest."""
        return getattr(self._request, "served", None) or self._served

    @property
    def recommender(self) -> Recommender:
        return self.served.recommender

    @property
    def title_index(self) -> TitleIndex:
        return self.served.title_index

    def swap(self, recommender: Recommender, title_index: TitleIndex | None = None) -> None:
        """Serve another model from the next request on (requests in flight finish on theirs)."""
        self._served = Served(recommender, title_index or index_titles(recommender))
        # The examples come from the catalogue, so a new catalogue brings new ones.
        self.commands = self._declared.with_examples(example_titles(
            recommender, self._served.title_index))

    def _example(self, name: str) -> str:
        found = self.commands.get(name)
        return found.example if found is not None else f"/{name}"

    @contextmanager
    def _pinned(self) -> Iterator[None]:
        self._request.served = self._served
        try:
            yield
        finally:
            self._request.served = None

    # ----- messages nobody asked for: progress, results, alerts --------------------------

    def add_outbox(self, platform: str, send: Callable[[str, str], None]) -> None:
        """How to message a user of ``platform``: ``send(platform_user_id, text)``."""
        self._outboxes[platform] = send

    def tell(self, to: UserRef | None, text: str) -> None:
        """Message one user, or (``to=None``) every admin on every connected platform."""
        if to is not None:
            targets = [(to.platform, to.platform_user_id)]
        else:
            targets = [(p, a) for p in self._outboxes for a in sorted(self.admin_ids)]
        for platform, user_id in targets:
            send = self._outboxes.get(platform)
            if send is None:
                log.info("no way to reach %s users; not sent: %s", platform, text[:200])
                continue
            try:
                send(user_id, text)
            except Exception as exc:  # an admin id from another platform, a blocked bot
                log.warning("could not message %s user: %s", platform, type(exc).__name__)

    # ----- entry points --------------------------------------------------------------

    @_unless_full
    def handle_text(self, user: UserRef, text: str) -> list[Reply]:
        """A message: a command, or free text treated as a title search."""
        text = (text or "").replace("\x00", "").strip()[:MAX_TEXT * 4]
        if not text:
            return [Reply("Send me a title, or /help to see what I can do.")]
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        if not text.startswith("/"):
            with self._pinned():
                return [self._lookup(text)]
        name, _, rest = text[1:].partition(" ")
        name = name.split("@", 1)[0].lower()
        rest = " ".join(rest.split())[:MAX_TEXT]
        found = self.commands.get(name)
        if found is None:
            return [Reply(f"I don't know /{name[:30]}. Try /help.")]
        return self._run(uid, user, found,
                         lambda: found.parse(rest, self.recommender.genre_names))

    @_unless_full
    def handle_command(self, user: UserRef, name: str,
                       values: Mapping[str, Any] | None = None) -> list[Reply]:
        """A command with typed values (a platform's options: ``{"count": 3, ...}``)."""
        return self._named(user, name, lambda found: found.accept(
            values or {}, self.recommender.genre_names))

    @_unless_full
    def handle_args(self, user: UserRef, name: str, args: Args) -> list[Reply]:
        """A command whose parameters the adapter's own widgets already typed (the web's
        filters: several genres, a minimum rating)."""
        return self._named(user, name, lambda _found: args)

    def _named(self, user: UserRef, name: str,
               parse: Callable[[Command], Args]) -> list[Reply]:
        """Run the command called ``name`` with the arguments ``parse`` gives for it."""
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        found = self.commands.get(name)
        if found is None:
            return [Reply(f"I don't know /{name[:30]}. Try /help.")]
        return self._run(uid, user, found, lambda: parse(found))

    def _run(self, uid: int, user: UserRef, declared: Command,
             parse: Callable[[], Args]) -> list[Reply]:
        if declared.admin and not self._is_admin(user):
            log.warning("refused /%s for %s user %s", declared.name, user.platform,
                        user.platform_user_id)
            return [Reply(f"Sorry, /{declared.name} is only for the bot's admins.")]
        try:
            with self._pinned():
                return declared.handler(self, Ask(uid, user, parse()))
        except BadArguments as exc:
            return [Reply(str(exc))]
        except InvalidRating:
            return [Reply("Ratings go from 1 to 5 (half stars are fine), e.g. "
                          f"{self._example('rate')}")]
        except StorageFull:
            raise  # answered by _unless_full, like a full disk before the command ran
        except Exception:  # a bug must cost one reply, never the conversation
            log.exception("/%s failed", declared.name)
            return [Reply(SORRY)]

    @_unless_full
    def handle_button(self, user: UserRef, data: str) -> list[Reply]:
        """A button press; ``data`` is what one of our buttons carried."""
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        payload = decode(data)
        if payload is None:
            return [Reply(EXPIRED, notice="Expired")]
        try:
            with self._pinned():
                return self._press(payload, uid)
        except (KeyError, ValueError, InvalidRating):  # a title gone from the catalogue
            return [Reply(EXPIRED, notice="Expired")]
        except StorageFull:
            raise  # answered by _unless_full
        except Exception:
            log.exception("button %r failed", (data or "")[:64])
            return [Reply(SORRY, notice="Sorry")]

    @_unless_full
    def handle_upload(self, user: UserRef, data: bytes, filename: str, *,
                      size: int | None = None) -> list[Reply]:
        """A file to /import (its bytes; ``size`` as the platform declared it, when the
        bytes were not fetched for being too big). The report, then the first picks."""
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        try:
            with self._pinned():
                report, imported = self.imports.run(self.db, self.recommender,
                                                    self.title_index, uid, data, filename, size)
                return [report, *self._recommend(uid, Args())] if imported else [report]
        except StorageFull:
            raise  # answered by _unless_full
        except Exception:
            log.exception("import of %r failed", (filename or "")[:64])
            return [Reply(SORRY)]

    @_unless_full
    def handle_start(self, user: UserRef, payload: str) -> list[Reply]:
        """``/start`` with a deep link's payload: the title it names (a card shared from
        inline mode), or the usual welcome for a payload that names none."""
        item_id = item_of(payload)
        found = None if item_id is None else self.title_index.get(item_id)
        if found is None:  # malformed, or a title gone from the catalogue since
            return self.handle_text(user, "/start")
        self.db.user(user.platform, user.platform_user_id, user.name)
        with self._pinned():
            reply = self._title_card(found)
        reply.outro = "Tap ❤ if you love it, then /recommend. /help shows everything else."
        return [reply]

    def find_titles(self, user: UserRef, query: str, limit: int = PAGE) -> list[Candidate]:
        """Titles for a search as the user types it (inline mode): what the title search
        offers, or, for an empty query, the user's recent picks and then popular titles.
        Never raises: a failure is logged and finds nothing."""
        text = " ".join((query or "").replace("\x00", "").split())[:MAX_TEXT]
        limit = max(1, int(limit))
        try:
            with self._pinned():
                if text:
                    return self.title_index.search(text, limit).candidates
                return self._recent_then_popular(user, limit)
        except Exception:  # an inline answer is a courtesy: it must not cost the bot
            log.exception("inline search failed")
            return []

    def _recent_then_popular(self, user: UserRef, limit: int) -> list[Candidate]:
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        with self._lock:
            state = self._lists.get(uid)
            recent = [r.item_id for r in state.picks[:max(state.shown, 1)]] if state else []
        found = [c for c in map(self.title_index.get, recent) if c is not None]
        unique: dict[int, Candidate] = {}
        for candidate in found + self._onboarding(limit):
            unique.setdefault(candidate.item_id, candidate)
        return list(unique.values())[:limit]

    def handle_other(self, _user: UserRef) -> list[Reply]:
        """Stickers, photos, voice: we only read text."""
        return [Reply("I only understand text. Type a title, or /help.")]

    # ----- commands, in the order of /help --------------------------------------------

    @command("start", "pick a few favourites to get going", personal=True)
    def start(self, ask: Ask) -> list[Reply]:
        name = f", {ask.user.name}" if ask.user.name else ""
        buttons = [[Button(f"❤ {describe(c)}", Like(c.item_id))] for c in self._onboarding()]
        return [Reply(
            f"Hi{name}! I recommend movies and TV shows from what you love.\n"
            "Tap a few favourites below (3 or more works best), or type /like and a title. "
            "Then ask /recommend.", buttons=buttons)]

    @command("help", "every command with an example", personal=True)
    def help(self, ask: Ask) -> list[Reply]:
        return [Reply(self.commands.help(admin=self._is_admin(ask.user)))]

    @command("like", "tell me you love a title", example="/like {0}", params=(TITLE,))
    def like(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "like")

    @command("dislike", "a title you don't like", example="/dislike {3}", params=(TITLE,))
    def dislike(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "dislike")

    @command("unlike", "forget a like or dislike", example="/unlike {0}", params=(TITLE,))
    def unlike(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "unlike")

    @command("rate", "rate a title, half stars are fine", example="/rate {1} 4.5",
             params=(TITLE, STARS))
    def rate(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "rate")

    @command("likes", "what you told me, newest first", personal=True)
    def likes(self, ask: Ask) -> list[Reply]:
        return [self._likes_page(ask.uid, 0)]

    @command("recommend", "picks for you", example="/recommend 5 movie comedy 1990-1999",
             params=(COUNT, KIND, GENRE, YEARS))
    def recommend(self, ask: Ask) -> list[Reply]:
        return self._recommend(ask.uid, ask.args)

    @command("more", "the next picks of the same list")
    def more(self, ask: Ask) -> list[Reply]:
        return self._more(ask.uid)

    @command("similar", "more like this one", example="/similar {2}", params=(TITLE,))
    def similar(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "similar")

    @command("why", "why I would suggest a title", example="/why {1}", params=(TITLE,),
             personal=True)
    def why(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "why")

    @command("watchlist", "your watchlist", personal=True)
    def watchlist(self, ask: Ask) -> list[Reply]:
        return [self._watchlist_page(ask.uid, 0)]

    @command("watch", "add a title to your watchlist", example="/watch {2}", params=(TITLE,))
    def watch(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "watch")

    @command("unwatch", "remove a title from your watchlist", example="/unwatch {2}",
             params=(TITLE,))
    def unwatch(self, ask: Ask) -> list[Reply]:
        return self._resolve_then(ask, "unwatch")

    @command("forget", "delete everything I know about you", personal=True)
    def forget(self, _ask: Ask) -> list[Reply]:
        return [Reply("Delete everything I know about you (likes, ratings, watchlist)? "
                      "This cannot be undone.",
                      buttons=[[Button("Yes, delete it all", Forget(True)),
                                Button("No, keep it", Forget(False))]])]

    @command("import", "bring in your IMDb or Letterboxd ratings (send the file)",
             params=(FILE,), personal=True)
    def import_(self, _ask: Ask) -> list[Reply]:
        return [Reply(HOW_TO)]  # typed: the file itself comes through handle_upload

    @command("export", "your likes, ratings and watchlist as files", personal=True)
    def export(self, ask: Ask) -> list[Reply]:
        return [self.imports.export(self.db, self.recommender, ask.uid)]

    @command("link", "a one-time code to use your taste on the web app", personal=True)
    def link(self, ask: Ask) -> list[Reply]:
        return [Reply(link_code(self.db, ask.uid, ask.user.platform, ask.user.room is not None))]

    @command("movienight", "in a group, one pick for everyone who joined",
             example="/movienight join", params=(MOVIE_NIGHT,))
    def movienight(self, ask: Ask) -> list[Reply]:
        room = ask.user.room
        if room is None:
            return [Reply("Movie night is for group chats and server channels: everyone who "
                          "wants in sends /movienight join there, then /movienight picks a "
                          "title for all of you.")]
        name = ask.user.name or "Someone"
        if ask.args.choice == "join":
            fresh = self.db.join_group(room, ask.uid)
            members = self._member_names(self.db.group_members(room))
            head = f"🍿 {name} is in for movie night." if fresh else f"{name}, you're already in."
            return [Reply(f"{head} In so far: {', '.join(members)}. When everyone has joined, "
                          "send /movienight.")]
        if ask.args.choice == "leave":
            left = self.db.leave_group(room, ask.uid)
            return [Reply(f"{name} left movie night." if left else
                          f"{name}, you weren't in movie night.")]
        return [self._movie_night(room)]

    @command("stats", "users, ratings, the model and the retraining schedule", admin=True,
             personal=True)
    def stats(self, _ask: Ask) -> list[Reply]:
        stats = self.db.stats()
        model = self.recommender
        lines = [f"Users: {stats['users']:,}", f"Ratings collected: {stats['ratings']:,} "
                 f"({stats['likes']:,} likes, {stats['dislikes']:,} dislikes)",
                 f"Watchlist entries: {stats['watchlist']:,}",
                 f"Recommendations shown: {stats['shown']:,}",
                 f"Model: {model.version} (rank {model.params.get('rank')}, "
                 f"{model.params.get('scheme')} preferences), trained "
                 f"{model.meta.get('trained_at', 'at an unknown time')}"]
        for protocol, models in (model.meta.get("metrics") or {}).items():
            ours = models.get("spark-als") or models.get("spark-als-foldin") or {}
            if "ndcg@10" in ours:
                lines.append(f"Evaluation ({protocol}): nDCG@10 {ours['ndcg@10']:.4f}, "
                             f"precision@10 {ours.get('precision@10', 0):.4f}")
        if self.jobs is not None:
            lines.extend(self.jobs.status())
        return [Reply("\n".join(lines))]

    @command("retrain", "retrain the model now on everything collected", admin=True,
             personal=True)
    def retrain(self, ask: Ask) -> list[Reply]:
        if self.jobs is None:
            return [Reply("Retraining is not set up in this bot; run "
                          "'python -m jobs retrain' on the server.")]
        return [Reply(self.jobs.retrain(ask.user))]

    @command("rollback", "go back to the previous model", admin=True, personal=True)
    def rollback(self, _ask: Ask) -> list[Reply]:
        if self.jobs is None:
            return [Reply("Rollback is not set up in this bot; run "
                          "'python -m jobs rollback' on the server.")]
        try:
            return [Reply(self.jobs.rollback())]
        except RecommenderError as exc:
            return [Reply(f"Could not roll back: {exc}")]

    # ----- buttons ---------------------------------------------------------------------

    @singledispatchmethod
    def _press(self, payload: object, _uid: int) -> list[Reply]:
        raise KeyError(payload)  # a payload kind without a handler: treat as expired

    @_press.register
    def _(self, payload: Like, uid: int) -> list[Reply]:
        return self._act(uid, "like", payload.item)

    @_press.register
    def _(self, payload: Dislike, uid: int) -> list[Reply]:
        return self._act(uid, "dislike", payload.item)

    @_press.register
    def _(self, payload: Watch, uid: int) -> list[Reply]:
        return self._act(uid, "watch", payload.item)

    @_press.register
    def _(self, payload: Chosen, uid: int) -> list[Reply]:
        return self._act(uid, payload.action, payload.item, stars=payload.stars)

    @_press.register
    def _(self, payload: NotInterested, uid: int) -> list[Reply]:
        item = self._candidate(payload.item)
        self.db.not_interested(uid, item.item_id)
        self.db.record_feedback(uid, item.item_id, "not_interested")
        return [Reply(f"Got it, no more {item.title}.", notice="Not interested")]

    @_press.register
    def _(self, payload: RemoveFromWatchlist, uid: int) -> list[Reply]:
        item = self._candidate(payload.item)
        self.db.unwatch(uid, item.item_id)
        page = self._watchlist_page(uid, 0, edit=True)
        page.notice = f"Removed {item.title}"[:190]
        return [page]

    @_press.register
    def _(self, payload: Seen, uid: int) -> list[Reply]:
        item = self._candidate(payload.item)
        self.db.mark_seen(uid, item.item_id)
        self.db.record_feedback(uid, item.item_id, "seen")
        return [Reply(f"Marked {describe(item)} as seen. Did you like it? /like or /rate it.",
                      notice="Seen")]

    @_press.register
    def _(self, payload: LikesPage, uid: int) -> list[Reply]:
        return [self._likes_page(uid, payload.page, edit=True)]

    @_press.register
    def _(self, payload: WatchlistPage, uid: int) -> list[Reply]:
        return [self._watchlist_page(uid, payload.page, edit=True)]

    @_press.register
    def _(self, _payload: MorePicks, uid: int) -> list[Reply]:
        return self._more(uid)

    @_press.register
    def _(self, _payload: FreshPicks, uid: int) -> list[Reply]:
        return self._recommend(uid, Args())

    @_press.register
    def _(self, _payload: ImportMisses, uid: int) -> list[Reply]:
        return [self.imports.misses(uid)]

    @_press.register
    def _(self, payload: Forget, uid: int) -> list[Reply]:
        if not payload.confirmed:
            return [Reply("Nothing was deleted.", edit=True, notice="Kept")]
        self.db.forget(uid)
        self.imports.forget(uid)
        with self._lock:
            self._lists.pop(uid, None)
        return [Reply("Done: everything I knew about you is deleted.", edit=True,
                      notice="Deleted")]

    # ----- what the commands and buttons share -----------------------------------------

    def _taste(self, uid: int) -> tuple[list[int], list[int], list[int]]:
        """(likes, dislikes, neutral) by the one rating rule, newest first."""
        return split(self.db.ratings_of(uid))

    def _is_admin(self, user: UserRef) -> bool:
        return str(user.platform_user_id) in self.admin_ids

    def _candidate(self, item_id: int) -> Candidate:
        found = self.title_index.get(int(item_id))
        if found is None:
            raise KeyError(item_id)
        return found

    def _resolve_then(self, ask: Ask, action: str) -> list[Reply]:
        """Find the title ``ask`` names, then do ``action`` to it (or ask which one)."""
        query = ask.args.title or ""
        match = self.title_index.search(query)
        if match.status == "found" and match.best is not None:
            return self._act(ask.uid, action, match.best.item_id, stars=ask.args.stars)
        return [self._choose(match, query, action, ask.args.stars)]

    def _choose(self, match: Match, query: str, action: str, stars: float | None) -> Reply:
        buttons = [[Button(describe(c), Chosen(action, c.item_id, stars))]
                   for c in match.candidates[:5]]
        shown = query if len(query) <= 60 else query[:57] + "..."
        if match.status == "ambiguous":
            return Reply(f"Several titles match \"{shown}\". Which one?", buttons=buttons)
        if buttons:
            return Reply(f"I found nothing close to \"{shown}\". Did you mean one of these?",
                         buttons=buttons)
        return Reply(f"I found nothing close to \"{shown}\". Check the spelling, or try the "
                     "original title.")

    def _act(self, uid: int, action: str, item_id: int, *,
             stars: float | None = None) -> list[Reply]:
        """What a command or a chosen title does to one title."""
        item = self._candidate(item_id)
        if action == "like":
            self.db.like(uid, item.item_id)
            self.db.record_feedback(uid, item.item_id, "like")
            count = self.db.count_feedback(uid)
            nudge = " Tap a few more, then /recommend." if count < 3 else " Ask /recommend."
            return [Reply(f"❤ Liked {describe(item)}.{nudge}", notice="Liked")]
        if action == "dislike":
            self.db.dislike(uid, item.item_id)
            return [Reply(f"👎 Noted: you don't like {describe(item)}.", notice="Disliked")]
        if action == "unlike":
            removed = self.db.unlike(uid, item.item_id)
            text = f"Forgot what you said about {describe(item)}." if removed else (
                f"You hadn't rated {describe(item)}.")
            return [Reply(text, notice="Removed" if removed else None)]
        if action == "rate":
            if stars is None:
                raise KeyError(action)
            self.db.rate(uid, item.item_id, stars)
            return [Reply(f"⭐ Rated {describe(item)}: {stars:g}/5.", notice="Rated")]
        return [self._act_on_lists(uid, action, item)]

    def _act_on_lists(self, uid: int, action: str, item: Candidate) -> Reply:
        """The actions that touch the watchlist or only show something."""
        name = describe(item)
        if action == "watch":
            added = self.db.watch(uid, item.item_id)
            self.db.record_feedback(uid, item.item_id, "watch")
            text = f"➕ Added {name} to your /watchlist." if added else (
                f"{name} is already on your /watchlist.")
            return Reply(text, notice="Added" if added else "Already there")
        if action == "unwatch":
            removed = self.db.unwatch(uid, item.item_id)
            text = f"Removed {name} from your watchlist." if removed else (
                f"{name} wasn't on your watchlist.")
            return Reply(text, notice="Removed" if removed else None)
        if action == "similar":
            return self._similar(uid, item)
        if action == "why":
            return self._why(uid, item)
        if action == "show":
            return self._title_card(item)
        raise KeyError(action)

    def _similar(self, uid: int, item: Candidate) -> Reply:
        results = self.recommender.similar(item.item_id, n=PAGE, exclude=self.db.excluded(uid))
        if not results:
            return Reply(f"I have nothing similar to {describe(item)} yet.")
        cards = [Card(f"{i}. {describe(r)}", item_id=r.item_id, link=imdb_url(r.imdb_id))
                 for i, r in enumerate(results, 1)]
        return Reply(f"More like {describe(item)}:", cards=cards,
                     buttons=self._pick_buttons(results))

    def _why(self, uid: int, item: Candidate) -> Reply:
        likes, dislikes, neutral = self._taste(uid)
        explained = self.recommender.explain(likes, dislikes, item.item_id, neutral=neutral)
        name = describe(item)
        if explained is None:
            return Reply(f"I know too little about {name} to say.")
        if explained.source == "popular":
            return Reply(f"You haven't liked anything yet, so {name} would only come up for "
                         "being popular and well rated.")
        if explained.because:
            return Reply(f"{name}: {self._because(explained.because)} (match "
                         f"{explained.score:.0%} of your best pick, from {explained.source} "
                         "filtering).")
        return Reply(f"Nothing you liked points to {name} (match {explained.score:.0%} "
                     "of your best pick).")

    def _title_card(self, item: Candidate) -> Reply:
        link = imdb_url(self.recommender.imdb_id(item.item_id))
        return Reply(cards=[Card(describe(item), item_id=item.item_id, link=link)], buttons=[[
            Button("❤ Like", Like(item.item_id)), Button("➕ Watchlist", Watch(item.item_id)),
            Button("≈ Similar", Chosen("similar", item.item_id))]])

    def _lookup(self, text: str) -> Reply:
        match = self.title_index.search(text[:MAX_TEXT])
        if match.status == "found" and match.best is not None:
            return self._title_card(match.best)
        return self._choose(match, text[:MAX_TEXT], "show", None)

    def _onboarding(self, count: int = 8) -> list[Candidate]:
        """Popular, well-rated, varied: the best item of each of the biggest genres."""
        picks: list[Candidate] = []
        used_genres: set[str] = set()
        for r in self.recommender.recommend([], n=200):
            if r.genres and r.genres[0] in used_genres:
                continue
            candidate = self.title_index.get(r.item_id)
            if candidate is not None:
                picks.append(candidate)
                used_genres.update(r.genres[:1])
            if len(picks) == count:
                break
        return picks

    def _recommend(self, uid: int, args: Args) -> list[Reply]:
        likes, dislikes, neutral = self._taste(uid)
        picks = self.recommender.recommend(
            likes, dislikes, n=LIST_SIZE, exclude=self.db.excluded(uid), kind=args.kind,
            genres=list(args.genres), years=args.years, neutral=neutral,
            min_imdb_rating=args.min_rating)
        with self._lock:
            self._lists[uid] = PickList(picks, 0, args.count or PAGE)
        if not picks:
            return [Reply("Nothing matches those filters yet. Try fewer filters, e.g. "
                          "/recommend movie")]
        intro = "" if likes else ("You haven't told me what you like yet, so here are popular, "
                                  "well-rated picks. /like a few titles to make them yours.\n\n")
        return [self._next_page(uid, intro)]

    def _more(self, uid: int) -> list[Reply]:
        with self._lock:
            state = self._lists.get(uid)
        if not state:
            return [Reply("Ask /recommend first; /more shows the next picks of that list.")]
        if state.shown >= len(state.picks):
            return [Reply("That's the whole list. /recommend again for a fresh one.")]
        return [self._next_page(uid, "")]

    def _next_page(self, uid: int, intro: str) -> Reply:
        with self._lock:
            state = self._lists[uid]
            start = state.shown
            page = state.picks[start:start + state.page_size]
            state.shown = start + len(page)
            more = state.shown < len(state.picks)
        self.db.log_shown(uid, [r.item_id for r in page], "recommend")
        cards = [Card(numbered_heading(i, r), self._reason(r), r.item_id, imdb_url(r.imdb_id))
                 for i, r in enumerate(page, start + 1)]
        buttons = self._pick_buttons(page, first=start + 1)
        if more:
            buttons.append([Button("More picks ▶", MorePicks())])
        return Reply(intro + "Picks for you:" if start == 0 else "More picks:", cards=cards,
                     buttons=buttons)

    def _because(self, because: Sequence[tuple[int, float]]) -> str:
        """(liked item id, share) pairs, best first, in words."""
        return "because you liked " + " and ".join(
            self.recommender.titles_of(i for i, _ in because))

    def _reason(self, r: Recommendation) -> str:
        if r.because:
            return self._because(r.because)
        if r.source == "popular":
            return "popular and well rated"
        return "close to your taste"

    @staticmethod
    def _pick_buttons(results: Sequence[Recommendation], first: int = 1) -> list[list[Button]]:
        return [[Button(f"{i} 👍", Like(r.item_id)), Button(f"{i} 👎", NotInterested(r.item_id)),
                 Button(f"{i} ➕", Watch(r.item_id)), Button(f"{i} ✔", Seen(r.item_id))]
                for i, r in enumerate(results, first)]

    def _member_names(self, members: list[int]) -> list[str]:
        names = self.db.names(members)
        return [names.get(m) or f"member {i}" for i, m in enumerate(members, 1)]

    def _movie_night(self, room: str) -> Reply:
        members = self.db.group_members(room)
        names = self._member_names(members)
        if len(members) < 2:
            who = f"Only {names[0]} has joined" if names else "Nobody has joined yet"
            return Reply(f"{who}. Movie night needs at least two: send /movienight join.")
        tastes, exclude = [], set()
        for member in members:
            likes, dislikes, _neutral = self._taste(member)
            tastes.append((likes, dislikes))
            # Seen, rated or not wanted by anyone is out; a watchlist title is fair game.
            wanted = {w.item_id for w in self.db.watchlist(member, 0, 10_000)}
            exclude |= self.db.excluded(member) - wanted
        picks = self.recommender.recommend_group(tastes, n=GROUP_PICKS, exclude=exclude)
        if not picks:
            return Reply("I couldn't find anything none of you has seen. Impressive.")
        cards = [Card(numbered_heading(i, p.item), "for " + joined([names[k] for k in p.for_whom]),
                      p.item.item_id, imdb_url(p.item.imdb_id)) for i, p in enumerate(picks, 1)]
        buttons = [[Button(f"{i} ➕", Watch(p.item.item_id)),
                    Button(f"{i} ✔ seen", Seen(p.item.item_id))]
                   for i, p in enumerate(picks, 1)]
        return Reply(f"🍿 Movie night for {joined(names)}:", cards=cards,
                     outro="Nobody here has seen these. Tap ➕ to keep one on your watchlist.",
                     buttons=buttons)

    def _likes_page(self, uid: int, page: int, edit: bool = False) -> Reply:
        total = self.db.count_feedback(uid)
        if total == 0:
            return Reply(f"You haven't told me anything yet. Try {self._example('like')}.",
                         edit=edit)
        page = max(0, min(page, (total - 1) // PAGE))
        cards = []
        for f in self.db.feedback(uid, offset=page * PAGE, limit=PAGE):
            what = {"like": "❤ liked", "dislike": "👎 disliked"}.get(f.source,
                                                                  f"⭐ {f.rating:g}/5")
            cards.append(Card(f"{what}: {self._name_of(f.item_id)}", item_id=f.item_id))
        return Reply(f"What you told me ({total}), newest first:", cards=cards,
                     buttons=self._pager(LikesPage, page, total), edit=edit)

    def _watchlist_page(self, uid: int, page: int, edit: bool = False) -> Reply:
        total = self.db.count_watchlist(uid)
        if total == 0:
            return Reply(f"Your watchlist is empty. Add with {self._example('watch')} or the ➕ "
                         "buttons.", edit=edit)
        page = max(0, min(page, (total - 1) // PAGE))
        cards, buttons = [], []
        for i, w in enumerate(self.db.watchlist(uid, offset=page * PAGE, limit=PAGE),
                              page * PAGE + 1):
            cards.append(Card(f"{i}. {self._name_of(w.item_id)}", item_id=w.item_id,
                              link=imdb_url(self.recommender.imdb_id(w.item_id))))
            buttons.append([Button(f"{i} ✔ seen", Seen(w.item_id)),
                            Button(f"{i} ✖ remove", RemoveFromWatchlist(w.item_id))])
        return Reply(f"Your watchlist ({total}):", cards=cards,
                     buttons=buttons + self._pager(WatchlistPage, page, total), edit=edit)

    def _name_of(self, item_id: int) -> str:
        item = self.title_index.get(item_id)
        return describe(item) if item else f"item {item_id}"

    @staticmethod
    def _pager(page_kind: type[Page], page: int,
               total: int) -> list[list[Button]]:
        row = []
        if page > 0:
            row.append(Button("◀ Newer", page_kind(page - 1)))
        if (page + 1) * PAGE < total:
            row.append(Button("Older ▶", page_kind(page + 1)))
        return [row] if row else []


COMMANDS = collect(Conversation)
Conversation.commands = COMMANDS
