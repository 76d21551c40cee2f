"""The conversation core: every command, knowing nothing about chat platforms.

Adapters (console, Telegram) turn what a person typed or tapped into
:meth:`Conversation.handle_text` / :meth:`Conversation.handle_button` calls and
render the :class:`Reply` objects they get back. Button data carries ids only
(Telegram allows 64 bytes). Every reply is plain text: adapters escape it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from bot.matching import Candidate, Match, TitleIndex
from recommender.errors import RecommenderError
from recommender.serve import Recommendation, Recommender
from storage import InvalidRating, Storage

log = logging.getLogger(__name__)

PAGE = 5
MAX_TEXT = 500  # longer messages are cut before matching: no title is that long
LIST_SIZE = 50  # how many picks one /recommend computes; /more pages through them


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Card:
    """One title of a list, for adapters that show lists as cards (Discord embeds)."""

    heading: str  # "1. Fargo (1996) · Crime, Thriller"
    detail: str  # "because you liked Star Wars"
    item_id: int


@dataclass
class Reply:
    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    edit: bool = False  # replace the message whose button was pressed (paging)
    notice: str | None = None  # a short toast for a button press
    cards: list[Card] = field(default_factory=list)  # the same list as `text`, structured


@dataclass(frozen=True)
class UserRef:
    platform: str
    platform_user_id: str
    name: str | None = None
    room: str | None = None  # the group chat or server channel, None in a private chat


HELP = """Here is what I understand:
/start: pick a few favourites to get going
/like <title>: tell me you love it, e.g. /like Dune
/dislike <title>: e.g. /dislike Titanic
/unlike <title>: forget a like or dislike, e.g. /unlike Dune
/rate <title> <1-5>: half stars are fine, e.g. /rate The Matrix 4.5
/likes: what you told me, newest first
/recommend [n] [movie|tv] [genre] [years]: e.g. /recommend 5 movie comedy 1990-1999
/more: the next picks of the same list
/similar <title>: more like this one, e.g. /similar Alien
/why <title>: why I would suggest it, e.g. /why Fargo
/watchlist: your list; /watch <title> adds, /unwatch <title> removes
/forget: delete everything I know about you
/movienight [join|leave]: in a group, one pick for everyone who joined
You can also just type a title to look it up."""

SORRY = "Sorry, something went wrong on my side and nothing was changed. Please try again."
ADMIN_COMMANDS = {
    "stats": "users, ratings, the model and the retraining schedule",
    "retrain": "retrain the model now on everything collected",
    "rollback": "go back to the previous model",
}
ADMIN_HELP = "\n".join(f"/{name}: {text} (admins only)" for name, text in ADMIN_COMMANDS.items())

COMMANDS = {
    "start": "pick a few favourites", "help": "every command with an example",
    "like": "a title you love", "dislike": "a title you don't like",
    "unlike": "forget a like or dislike", "rate": "rate a title 1-5",
    "likes": "what you told me", "recommend": "picks for you", "more": "next picks",
    "similar": "more like a title", "why": "why a title is suggested",
    "watchlist": "your watchlist", "watch": "add to watchlist",
    "unwatch": "remove from watchlist", "forget": "delete my data",
    "movienight": "a pick for everyone in this group",
}
# Replies only the asker should see where a platform can hide them (Discord's ephemeral).
PERSONAL_COMMANDS = frozenset({"start", "help", "likes", "watchlist", "forget", "why",
                               "stats", "retrain", "rollback"})
GROUP_PICKS = 5


def split_message(text: str, limit: int, unsafe: str = "") -> list[str]:
    """``text`` (already escaped for the platform) cut at line breaks so each part fits
    ``limit`` characters. A line longer than that is cut hard, but never just after a
    character of ``unsafe`` (an escape's start) within its last 8 characters."""
    parts, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = max((line.rfind(c, limit - 8, limit) for c in unsafe), default=-1)
            cut = cut if cut > 0 else limit
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:cut])
            line = line[cut:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    parts.append(current)
    return [p for p in parts if p.strip()] or ["…"]


def _and(names: Sequence[str]) -> str:
    """"Ann", "Ann and Bob", "Ann, Bob and Cy"."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def describe(title: str, year: int | None, kind: str) -> str:
    when = f" ({year})" if year else ""
    return f"{title}{when}" + (" [TV]" if kind == "tv" else "")


class Jobs(Protocol):
    """What the core needs from the retraining service (:class:`jobs.service.RetrainService`)."""

    def retrain(self, requested_by: UserRef | None, trigger: str = ...) -> str: ...
    def rollback(self) -> str: ...
    def status(self) -> list[str]: ...


@dataclass(frozen=True)
class Served:
    """A model and its title index: always swapped together."""

    rec: Recommender
    titles: TitleIndex


class Conversation:
    """One bot brain shared by every adapter; safe to call from several threads.

    A new model is swapped in with :meth:`swap`; each request keeps the model it
    started with, so no request ever mixes two models.
    """

    def __init__(self, recommender: Recommender, storage: Storage, *,
                 titles: TitleIndex | None = None, admin_ids: Sequence[str] = (),
                 clock: Callable[[], float] = time.time, jobs: Jobs | None = None) -> None:
        self._served = Served(recommender, titles or TitleIndex.from_recommender(recommender))
        self._request = threading.local()
        self.db = storage
        self.admin_ids = {str(a) for a in admin_ids}
        self.clock = clock
        self.jobs = jobs
        self._outboxes: dict[str, Callable[[str, str], None]] = {}
        self._lists: dict[int, dict] = {}  # user -> the last /recommend list and position
        self._lock = threading.Lock()

    # ----- the model being served ------------------------------------------------------

    @property
    def served(self) -> Served:
        """The model of the request in progress on this thread, else the newest."""
        return getattr(self._request, "served", None) or self._served

    @property
    def rec(self) -> Recommender:
        return self.served.rec

    @property
    def titles(self) -> TitleIndex:
        return self.served.titles

    def swap(self, recommender: Recommender, titles: TitleIndex | None = None) -> None:
        """Serve another model from the next request on (requests in flight finish on theirs)."""
        self._served = Served(recommender, titles or TitleIndex.from_recommender(recommender))

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

    def handle_text(self, user: UserRef, text: str) -> list[Reply]:
        """A message: a command, or free text treated as a title search."""
        text = (text or "").replace("\x00", "").strip()[:MAX_TEXT * 4]
        if not text:
            return [Reply("Send me a title, or /help to see what I can do.")]
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        if not text.startswith("/"):
            with self._pinned():
                return [self._lookup(uid, text)]
        command, _, args = text[1:].partition(" ")
        command = command.split("@", 1)[0].lower()
        args = " ".join(args.split())[:MAX_TEXT]
        handler = getattr(self, f"cmd_{command}", None)
        if command in ADMIN_COMMANDS and not self._is_admin(user):
            log.warning("refused /%s for %s user %s", command, user.platform,
                        user.platform_user_id)
            return [Reply(f"Sorry, /{command} is only for the bot's admins.")]
        if handler is None:
            return [Reply(f"I don't know /{command[:30]}. Try /help.")]
        try:
            with self._pinned():
                return handler(uid, args, user)
        except InvalidRating:
            return [Reply("Ratings go from 1 to 5 (half stars are fine), e.g. /rate Dune 4.5")]
        except Exception:  # a bug must cost one reply, never the conversation
            log.exception("/%s failed", command)
            return [Reply(SORRY)]

    def handle_button(self, user: UserRef, data: str) -> list[Reply]:
        """A button press; ``data`` is what we put into the button."""
        uid = self.db.user(user.platform, user.platform_user_id, user.name)
        action, _, rest = (data or "").partition(":")
        parts = rest.split(":") if rest else []
        numbers = [int(p) for p in parts if p.isdigit() and len(p) < 19]
        handler = getattr(self, f"btn_{action}", None)
        if handler is None:
            return [Reply("That button has expired.", notice="Expired")]
        try:
            with self._pinned():
                return handler(uid, numbers, parts)
        except (IndexError, KeyError, ValueError, InvalidRating):
            return [Reply("That button has expired.", notice="Expired")]
        except Exception:
            log.exception("button %r failed", data[:64])
            return [Reply(SORRY, notice="Sorry")]

    def handle_other(self, user: UserRef) -> list[Reply]:
        """Stickers, photos, voice: we only read text."""
        return [Reply("I only understand text. Type a title, or /help.")]

    # ----- commands ------------------------------------------------------------------

    def cmd_start(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        name = f", {user.name}" if user.name else ""
        picks = self._onboarding()
        buttons = [[Button(f"❤ {describe(c.title, c.year, c.kind)}", f"like:{c.item_id}")]
                   for c in picks]
        return [Reply(
            f"Hi{name}! I recommend movies and TV shows from what you love.\n"
            "Tap a few favourites below (3 or more works best), or type /like and a title. "
            "Then ask /recommend.", buttons)]

    def cmd_help(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        extra = f"\n{ADMIN_HELP}" if self._is_admin(user) else ""
        return [Reply(HELP + extra)]

    def cmd_like(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "like", "/like Dune")

    def cmd_dislike(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "dislike", "/dislike Titanic")

    def cmd_unlike(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "unlike", "/unlike Dune")

    def cmd_watch(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "watch", "/watch Alien")

    def cmd_unwatch(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "unwatch", "/unwatch Alien")

    def cmd_similar(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "similar", "/similar Alien")

    def cmd_why(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._resolve_then(uid, args, "why", "/why Fargo")

    def cmd_rate(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        match = re.fullmatch(r"(?P<title>.+?)\s+(?P<stars>\d+(?:[.,]\d+)?)(?:\s*/\s*5)?", args)
        if not match:
            return [Reply("Tell me a title and 1 to 5 stars, e.g. /rate The Matrix 4.5")]
        stars = float(match.group("stars").replace(",", "."))
        if not (0.5 <= stars <= 5 and (stars * 2).is_integer()):
            raise InvalidRating(stars)
        return self._resolve_then(uid, match.group("title"), "rate", "/rate Dune 4",
                                  extra=int(stars * 2))

    def cmd_likes(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return [self._likes_page(uid, 0)]

    def cmd_watchlist(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return [self._watchlist_page(uid, 0)]

    def cmd_recommend(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._recommend(uid, args)

    def _recommend(self, uid: int, args: str) -> list[Reply]:
        query, problem = self._parse_recommend(args)
        if problem:
            return [Reply(problem)]
        likes, dislikes = self.db.preferences(uid)
        results = self.rec.recommend(likes, dislikes, n=LIST_SIZE,
                                     exclude=self.db.excluded(uid), kind=query["kind"],
                                     genres=query["genres"], years=query["years"],
                                     neutral=self.db.neutral(uid))
        with self._lock:
            self._lists[uid] = {"results": results, "pos": 0, "n": query["n"]}
        if not results:
            return [Reply("Nothing matches those filters yet. Try fewer filters, e.g. "
                          "/recommend movie")]
        intro = "" if likes else ("You haven't told me what you like yet, so here are popular, "
                                  "well-rated picks. /like a few titles to make them yours.\n\n")
        return [self._page_of_list(uid, intro)]

    def cmd_more(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return self._more(uid)

    def _more(self, uid: int) -> list[Reply]:
        with self._lock:
            state = self._lists.get(uid)
        if not state:
            return [Reply("Ask /recommend first; /more shows the next picks of that list.")]
        if state["pos"] >= len(state["results"]):
            return [Reply("That's the whole list. /recommend again for a fresh one.")]
        return [self._page_of_list(uid, "")]

    def cmd_forget(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        return [Reply("Delete everything I know about you (likes, ratings, watchlist)? "
                      "This cannot be undone.",
                      [[Button("Yes, delete it all", "forget:1"),
                        Button("No, keep it", "forget:0")]])]

    def cmd_stats(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        stats = self.db.stats()
        meta = self.rec.params
        lines = [f"Users: {stats['users']:,}", f"Ratings collected: {stats['ratings']:,} "
                 f"({stats['likes']:,} likes, {stats['dislikes']:,} dislikes)",
                 f"Watchlist entries: {stats['watchlist']:,}",
                 f"Recommendations shown: {stats['shown']:,}",
                 f"Model: {self.rec.version} (rank {meta.get('rank')}, "
                 f"{meta.get('scheme')} preferences), trained "
                 f"{self.rec.meta.get('trained_at', 'at an unknown time')}"]
        for protocol, models in (self.rec.meta.get("metrics") or {}).items():
            ours = models.get("spark-als") or models.get("spark-als-foldin") or {}
            if "ndcg@10" in ours:
                lines.append(f"Evaluation ({protocol}): nDCG@10 {ours['ndcg@10']:.4f}, "
                             f"precision@10 {ours.get('precision@10', 0):.4f}")
        if self.jobs is not None:
            lines.extend(self.jobs.status())
        return [Reply("\n".join(lines))]

    def cmd_retrain(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        if self.jobs is None:
            return [Reply("Retraining is not set up in this bot; run "
                          "'python -m jobs retrain' on the server.")]
        return [Reply(self.jobs.retrain(user))]

    def cmd_rollback(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        if self.jobs is None:
            return [Reply("Rollback is not set up in this bot; run "
                          "'python -m jobs rollback' on the server.")]
        try:
            return [Reply(self.jobs.rollback())]
        except RecommenderError as exc:
            return [Reply(f"Could not roll back: {exc}")]

    def cmd_movienight(self, uid: int, args: str, user: UserRef) -> list[Reply]:
        if user.room is None:
            return [Reply("Movie night is for group chats and server channels: everyone who "
                          "wants in sends /movienight join there, then /movienight picks a "
                          "title for all of you.")]
        action = args.strip().lower()
        name = user.name or "Someone"
        if action == "join":
            fresh = self.db.join_group(user.room, uid)
            members = self._member_names(self.db.group_members(user.room))
            head = f"🍿 {name} is in for movie night." if fresh else f"{name}, you're already in."
            return [Reply(f"{head} In so far: {', '.join(members)}. When everyone has joined, "
                          "send /movienight.")]
        if action == "leave":
            left = self.db.leave_group(user.room, uid)
            return [Reply(f"{name} left movie night." if left else
                          f"{name}, you weren't in movie night.")]
        if action not in ("", "pick"):
            return [Reply("Try /movienight join, /movienight leave, or /movienight to pick.")]
        return [self._movie_night(user.room)]

    # ----- buttons -------------------------------------------------------------------

    def btn_like(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return self._act(uid, "like", nums[0])

    def btn_dislike(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return self._act(uid, "dislike", nums[0])

    def btn_no(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        item = self._candidate(nums[0])
        self.db.not_interested(uid, item.item_id)
        self.db.record_feedback(uid, item.item_id, "not_interested")
        return [Reply(f"Got it, no more {item.title}.", notice="Not interested")]

    def btn_watch(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return self._act(uid, "watch", nums[0])

    def btn_unwatch(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        item = self._candidate(nums[0])
        self.db.unwatch(uid, item.item_id)
        page = self._watchlist_page(uid, 0, edit=True)
        page.notice = f"Removed {item.title}"[:190]
        return [page]

    def btn_seen(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        item = self._candidate(nums[0])
        self.db.mark_seen(uid, item.item_id)
        self.db.record_feedback(uid, item.item_id, "seen")
        return [Reply(f"Marked {describe(item.title, item.year, item.kind)} as seen. "
                      "Did you like it? /like or /rate it.", notice="Seen")]

    def btn_pick(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        action = parts[0]
        item_id = int(parts[1])
        extra = int(parts[2]) if len(parts) > 2 else None
        return self._act(uid, action, item_id, extra=extra)

    def btn_likes(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return [self._likes_page(uid, nums[0], edit=True)]

    def btn_wl(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return [self._watchlist_page(uid, nums[0], edit=True)]

    def btn_more(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return self._more(uid)

    def btn_recommend(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        return self._recommend(uid, "")

    def btn_forget(self, uid: int, nums: list[int], parts: list[str]) -> list[Reply]:
        if nums and nums[0] == 1:
            self.db.forget(uid)
            with self._lock:
                self._lists.pop(uid, None)
            return [Reply("Done: everything I knew about you is deleted.", edit=True,
                          notice="Deleted")]
        return [Reply("Nothing was deleted.", edit=True, notice="Kept")]

    # ----- helpers -------------------------------------------------------------------

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
            tastes.append(self.db.preferences(member))
            # Seen, rated or not wanted by anyone is out; a watchlist title is fair game.
            wanted = {w.item_id for w in self.db.watchlist(member, 0, 10_000)}
            exclude |= self.db.excluded(member) - wanted
        picks = self.rec.recommend_group(tastes, n=GROUP_PICKS, exclude=exclude)
        if not picks:
            return Reply("I couldn't find anything none of you has seen. Impressive.")
        lines, cards = [f"🍿 Movie night for {_and(names)}:"], []
        for i, pick in enumerate(picks, 1):
            r = pick.item
            heading = (f"{i}. {describe(r.title, r.year, r.kind)}"
                       + (f" · {', '.join(r.genres[:3])}" if r.genres else ""))
            detail = "for " + _and([names[k] for k in pick.for_whom])
            lines += [heading, f"   {detail}"]
            cards.append(Card(heading, detail, r.item_id))
        lines.append("Nobody here has seen these. Tap ➕ to keep one on your watchlist.")
        buttons = [[Button(f"{i} ➕", f"watch:{p.item.item_id}"),
                    Button(f"{i} ✔ seen", f"seen:{p.item.item_id}")]
                   for i, p in enumerate(picks, 1)]
        return Reply("\n".join(lines), buttons, cards=cards)

    def _is_admin(self, user: UserRef) -> bool:
        return str(user.platform_user_id) in self.admin_ids

    def _candidate(self, item_id: int) -> Candidate:
        found = self.titles.get(int(item_id))
        if found is None:
            raise KeyError(item_id)
        return found

    def _resolve_then(self, uid: int, query: str, action: str, example: str,
                      extra: int | None = None) -> list[Reply]:
        if not query.strip():
            return [Reply(f"Which title? For example: {example}")]
        match = self.titles.search(query)
        if match.status == "found" and match.best is not None:
            return self._act(uid, action, match.best.item_id, extra=extra)
        return [self._choose(match, query, action, extra)]

    def _choose(self, match: Match, query: str, action: str, extra: int | None) -> Reply:
        suffix = f":{extra}" if extra is not None else ""
        buttons = [[Button(describe(c.title, c.year, c.kind), f"pick:{action}:{c.item_id}{suffix}")]
                   for c in match.candidates[:5]]
        shown = query if len(query) <= 60 else query[:57] + "..."
        if match.status == "ambiguous":
            return Reply(f"Several titles match \"{shown}\". Which one?", buttons)
        if buttons:
            return Reply(f"I found nothing close to \"{shown}\". Did you mean one of these?",
                         buttons)
        return Reply(f"I found nothing close to \"{shown}\". Check the spelling, or try the "
                     "original title.")

    def _act(self, uid: int, action: str, item_id: int, *, extra: int | None = None) -> list[Reply]:
        item = self._candidate(item_id)
        name = describe(item.title, item.year, item.kind)
        if action == "like":
            self.db.like(uid, item.item_id)
            self.db.record_feedback(uid, item.item_id, "like")
            count = self.db.count_feedback(uid)
            nudge = " Tap a few more, then /recommend." if count < 3 else " Ask /recommend."
            return [Reply(f"❤ Liked {name}.{nudge}", notice="Liked")]
        if action == "dislike":
            self.db.dislike(uid, item.item_id)
            return [Reply(f"👎 Noted: you don't like {name}.", notice="Disliked")]
        if action == "unlike":
            removed = self.db.unlike(uid, item.item_id)
            text = f"Forgot what you said about {name}." if removed else (
                f"You hadn't rated {name}.")
            return [Reply(text, notice="Removed" if removed else None)]
        if action == "rate":
            stars = (extra or 0) / 2
            self.db.rate(uid, item.item_id, stars)
            return [Reply(f"⭐ Rated {name}: {stars:g}/5.", notice="Rated")]
        return [self._act_on_lists(uid, action, item, name)]

    def _act_on_lists(self, uid: int, action: str, item: Candidate, name: str) -> Reply:
        """The actions that touch the watchlist or only show something."""
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
            return self._similar(uid, item, name)
        if action == "why":
            return self._why(uid, item, name)
        if action == "show":
            return self._card(item, name)
        raise KeyError(action)

    def _similar(self, uid: int, item: Candidate, name: str) -> Reply:
        results = self.rec.similar(item.item_id, n=PAGE, exclude=self.db.excluded(uid))
        if not results:
            return Reply(f"I have nothing similar to {name} yet.")
        lines = [f"More like {name}:"] + [
            f"{i}. {describe(r.title, r.year, r.kind)}" for i, r in enumerate(results, 1)]
        return Reply("\n".join(lines), self._item_buttons(results))

    def _why(self, uid: int, item: Candidate, name: str) -> Reply:
        likes, dislikes = self.db.preferences(uid)
        explained = self.rec.explain(likes, dislikes, item.item_id,
                                     neutral=self.db.neutral(uid))
        if explained is None:
            return Reply(f"I know too little about {name} to say.")
        if explained.source == "popular":
            return Reply(f"You haven't liked anything yet, so {name} would only come up for "
                         "being popular and well rated.")
        if explained.because:
            reasons = " and ".join(self.rec.titles_of(i for i, _ in explained.because))
            return Reply(f"{name}: because you liked {reasons} (match {explained.score:.0%} "
                         f"of your best pick, from {explained.source} filtering).")
        return Reply(f"Nothing you liked points to {name} (match {explained.score:.0%} "
                     "of your best pick).")

    def _card(self, item: Candidate, name: str) -> Reply:
        return Reply(name, [[Button("❤ Like", f"like:{item.item_id}"),
                             Button("➕ Watchlist", f"watch:{item.item_id}"),
                             Button("≈ Similar", f"pick:similar:{item.item_id}")]])

    def _lookup(self, uid: int, text: str) -> Reply:
        match = self.titles.search(text[:MAX_TEXT])
        if match.status == "found" and match.best is not None:
            best = match.best
            return self._card(best, describe(best.title, best.year, best.kind))
        return self._choose(match, text[:MAX_TEXT], "show", None)

    def _onboarding(self, count: int = 8) -> list[Candidate]:
        """Popular, well-rated, varied: the best item of each of the biggest genres."""
        picks: list[Candidate] = []
        used_genres: set[str] = set()
        for r in self.rec.recommend([], n=200):
            if r.genres and r.genres[0] in used_genres:
                continue
            candidate = self.titles.get(r.item_id)
            if candidate is not None:
                picks.append(candidate)
                used_genres.update(r.genres[:1])
            if len(picks) == count:
                break
        return picks

    def _parse_recommend(self, args: str) -> tuple[dict, str | None]:
        query: dict = {"n": PAGE, "kind": None, "genres": [], "years": None}
        genres = {g.lower().replace("-", ""): g for g in self.rec.genre_names}
        for token in args.lower().split():
            bare = token.replace("-", "")
            if token.isdigit() and len(token) <= 2:
                query["n"] = max(1, min(int(token), 20))
            elif token in ("movie", "movies", "film", "films"):
                query["kind"] = "movie"
            elif token in ("tv", "show", "shows", "series"):
                query["kind"] = "tv"
            elif years := re.fullmatch(r"(\d{4})\s*[-–]\s*(\d{4})", token):
                lo, hi = sorted((int(years.group(1)), int(years.group(2))))
                query["years"] = (lo, hi)
            elif decade := re.fullmatch(r"(\d{3})0s", token):
                query["years"] = (int(decade.group(1)) * 10, int(decade.group(1)) * 10 + 9)
            elif re.fullmatch(r"\d{4}", token):
                query["years"] = (int(token), int(token))
            elif bare in genres:
                query["genres"].append(genres[bare])
            else:
                known = ", ".join(self.rec.genre_names)
                return query, (f"I don't understand \"{token[:30]}\". Use a number, movie or "
                               f"tv, a genre ({known}) or years like 1990-1999.")
        return query, None

    def _page_of_list(self, uid: int, intro: str) -> Reply:
        with self._lock:
            state = self._lists[uid]
            start = state["pos"]
            page = state["results"][start:start + state["n"]]
            state["pos"] = start + len(page)
            more = state["pos"] < len(state["results"])
        self.db.log_shown(uid, [r.item_id for r in page], "recommend")
        lines = [intro + "Picks for you:"] if start == 0 else ["More picks:"]
        cards = []
        for i, r in enumerate(page, start + 1):
            heading = (f"{i}. {describe(r.title, r.year, r.kind)}"
                       + (f" · {', '.join(r.genres[:3])}" if r.genres else ""))
            lines += [heading, f"   {self._reason(r)}"]
            cards.append(Card(heading, self._reason(r), r.item_id))
        buttons = self._item_buttons(page, first=start + 1)
        if more:
            buttons.append([Button("More picks ▶", "more")])
        return Reply("\n".join(lines), buttons, cards=cards)

    def _reason(self, r: Recommendation) -> str:
        if r.because:  # (liked item id, share) pairs, best first
            return "because you liked " + " and ".join(
                self.rec.titles_of(i for i, _ in r.because))
        if r.source == "popular":
            return "popular and well rated"
        return "close to your taste"

    @staticmethod
    def _item_buttons(results: Sequence[Recommendation], first: int = 1) -> list[list[Button]]:
        return [[Button(f"{i} 👍", f"like:{r.item_id}"), Button(f"{i} 👎", f"no:{r.item_id}"),
                 Button(f"{i} ➕", f"watch:{r.item_id}"), Button(f"{i} ✔", f"seen:{r.item_id}")]
                for i, r in enumerate(results, first)]

    def _likes_page(self, uid: int, page: int, edit: bool = False) -> Reply:
        total = self.db.count_feedback(uid)
        if total == 0:
            return Reply("You haven't told me anything yet. Try /like Dune.", edit=edit)
        page = max(0, min(page, (total - 1) // PAGE))
        rows = self.db.feedback(uid, offset=page * PAGE, limit=PAGE)
        lines = [f"What you told me ({total}), newest first:"]
        for f in rows:
            item = self.titles.get(f.item_id)
            name = describe(item.title, item.year, item.kind) if item else f"item {f.item_id}"
            what = {"like": "❤ liked", "dislike": "👎 disliked"}.get(f.source,
                                                                  f"⭐ {f.rating:g}/5")
            lines.append(f"{what}: {name}")
        return Reply("\n".join(lines), self._pager("likes", page, total), edit=edit)

    def _watchlist_page(self, uid: int, page: int, edit: bool = False) -> Reply:
        total = self.db.count_watchlist(uid)
        if total == 0:
            return Reply("Your watchlist is empty. Add with /watch Alien or the ➕ buttons.",
                         edit=edit)
        page = max(0, min(page, (total - 1) // PAGE))
        rows = self.db.watchlist(uid, offset=page * PAGE, limit=PAGE)
        lines = [f"Your watchlist ({total}):"]
        buttons = []
        for i, w in enumerate(rows, page * PAGE + 1):
            item = self.titles.get(w.item_id)
            name = describe(item.title, item.year, item.kind) if item else f"item {w.item_id}"
            lines.append(f"{i}. {name}")
            buttons.append([Button(f"{i} ✔ seen", f"seen:{w.item_id}"),
                            Button(f"{i} ✖ remove", f"unwatch:{w.item_id}")])
        return Reply("\n".join(lines), buttons + self._pager("wl", page, total), edit=edit)

    @staticmethod
    def _pager(action: str, page: int, total: int) -> list[list[Button]]:
        row = []
        if page > 0:
            row.append(Button("◀ Newer", f"{action}:{page - 1}"))
        if (page + 1) * PAGE < total:
            row.append(Button("Older ▶", f"{action}:{page + 1}"))
        return [row] if row else []
