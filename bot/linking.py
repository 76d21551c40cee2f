"""One-time codes that link a web visitor to a Telegram or Discord account.

A chat user sends ``/link`` in a private chat and gets a short code; entering it on the
web page makes that web visitor act as the chat user, so one taste serves both. Codes
are drawn from :mod:`secrets` (8 characters of a 30-symbol alphabet: about 39 bits, too
many to guess in their 10 minutes), work once, and are stored only as a SHA-256 hash, so
the database never holds a usable code. Time comes from the storage's injected clock.
"""

from __future__ import annotations

import hashlib
import secrets

from storage import Storage

# No 0/O, 1/I/L or U: a code is read off one screen and typed on another.
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
LENGTH = 8
TTL_SECONDS = 600
MAX_TYPED = 40  # characters of a typed code looked at; anything longer is not a code


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
