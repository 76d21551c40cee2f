"""One-time codes that link a web visitor to a Telegram or Discord account.

A chat user sends ``/link`` in a private chat and gets a short code; entering it on the
web page makes that web visitor act as the chat user, so one taste serves both. Codes
are drawn from :mod:`secrets` (8 characters of a 30-symbol alphabet: about 39 bits, too
many to guess in their 10 minutes), work once, and are stored only as a SHA-256 hash, so
the database never holds a usable code. Time comes from the storage's injected clock.
Wrong codes are rate-limited (:class:`Attempts`): a few per visitor, and a ceiling for all
visitors together, since a new cookie makes a new visitor.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict, deque

from storage import Storage

# No 0/O, 1/I/L or U: a code is read off one screen and typed on another.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 8
TTL_SECONDS = 600
MAX_TYPED = 40  # characters of a typed code looked at; anything longer is not a code
WINDOW_SECONDS = 600  # wrong codes are counted over the last 10 minutes (a code's life)
WRONG_PER_VISITOR = 5
# Everyone's wrong codes together: far more than honest typos, far too few to search 39
# bits (at this rate a guess succeeds once in ~10^9 windows even with many live codes).
WRONG_FOR_EVERYONE = 100
KEPT_VISITORS = 10_000  # visitors whose recent wrong codes are remembered (newest)


def new_code() -> str:
    """A fresh code, shown as ``ABCD-EFGH``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise(typed: str) -> str | None:
    """The code someone typed, without spaces or dashes and in capitals; None when it
    cannot be one of ours (so a wrong guess never reaches the database)."""
    text = (typed or "")[:MAX_TYPED].upper().replace("-", "").replace(" ", "").strip()
    if len(text) != LENGTH or any(c not in ALPHABET for c in text):
        return None
    return text


def key_of(code: str) -> str:
    """What the database keeps of a normalised code: its SHA-256, never the code."""
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def issue(db: Storage, user_id: int, platform: str, in_room: bool) -> str:
    """The /link reply for a chat user: a fresh code, or why there is none."""
    if platform == "web":
        return ("On the web page, open \"Your account\" and enter the code that /link gives "
                "you on Telegram or Discord.")
    if in_room:
        return "Send /link to me in a private chat, so nobody else sees your code."
    code = new_code()
    db.issue_link_code(user_id, key_of(normalise(code) or ""), TTL_SECONDS)
    return (f"Your code: {code}\nEnter it on the web app's \"Your account\" page within "
            f"{TTL_SECONDS // 60} minutes, and the web app will use your likes and watchlist "
            "from here. It works once.")


def redeem(db: Storage, web_user_id: int, typed: str
           ) -> tuple[tuple[str, str, str | None], int] | None:
    """Link the web user to the owner of the code ``typed``, who also gets what the web
    user rated before (where they said nothing themselves): one taste from now on. The
    owner's (platform, platform user id, name) and how many ratings they got, or None
    for a wrong, used or expired code."""
    code = normalise(typed)
    owner = None if code is None else db.redeem_link_code(key_of(code), web_user_id)
    account = None if owner is None else db.linked_account(web_user_id)
    if owner is None or account is None:
        return None
    return account, db.copy_taste(web_user_id, owner)


class Attempts:
    """Wrong link codes in a sliding window, per visitor and for everyone together.

    Kept in memory: the web server is one process and the only place codes are typed,
    and a restart forgetting ten minutes of mistakes costs nothing. Callers pass the
    time (the conversation's clock), so tests move it instead of sleeping."""

    def __init__(self, per_visitor: int = WRONG_PER_VISITOR,
                 everyone: int = WRONG_FOR_EVERYONE, window: float = WINDOW_SECONDS) -> None:
        self.per_visitor, self.everyone, self.window = per_visitor, everyone, window
        self._visitors: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self, visitor: str, now: float) -> float:
        """Seconds ``visitor`` must wait before trying another code (0: go ahead)."""
        with self._lock:
            mine = self._recent(self._visitors.get(visitor, deque()), now)
            waits = [0.0]
            if len(mine) >= self.per_visitor:
                waits.append(mine[0] + self.window - now)
            if len(self._recent(self._all, now)) >= self.everyone:
                waits.append(self._all[0] + self.window - now)
            return max(waits)

    def wrong(self, visitor: str, now: float) -> None:
        """Count a wrong code typed by ``visitor``."""
        with self._lock:
            mine = self._visitors.pop(visitor, deque())
            self._visitors[visitor] = mine  # the most recent visitor last
            mine.append(now)
            self._all.append(now)
            while len(self._visitors) > KEPT_VISITORS:
                self._visitors.popitem(last=False)

    def _recent(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
