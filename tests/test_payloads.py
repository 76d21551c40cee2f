"""Button payloads: every kind round-trips, fits Telegram's 64 bytes at its largest, and
anything we did not write decodes to nothing."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from bot.payloads import (
    ACTIONS,
    MAX_BYTES,
    MAX_ID,
    TAGS,
    Chosen,
    Forget,
    Like,
    WatchlistPage,
    decode,
    encode,
)


def largest(kind: type) -> list:
    """Every payload of ``kind`` at its longest encoding."""
    if kind is Chosen:
        return [Chosen(action, MAX_ID, 4.5 if action == "rate" else None) for action in ACTIONS]
    if kind is Forget:
        return [Forget(True), Forget(False)]
    return [kind(*(MAX_ID for _ in fields(kind)))]


def test_every_kind_round_trips_within_64_bytes_at_its_largest():
    for kind in TAGS:
        for payload in largest(kind):
            data = encode(payload)
            assert len(data.encode()) <= MAX_BYTES, data
            assert decode(data) == payload


def test_buttons_from_before_the_registry_still_work():
    assert decode("like:50") == Like(50) and decode("wl:2") == WatchlistPage(2)
    assert decode("pick:rate:100:9") == Chosen("rate", 100, 4.5)
    assert decode("forget:1") == Forget(True)
    assert encode(Chosen("rate", 100, 4.5)) == "pick:rate:100:9"


def test_forged_and_expired_data_decode_to_nothing():
    for data in ["", "like:", "like:abc", "like:-1", "like:1:2", "pick:x:1", "pick:like",
                 "pick:rate:1", "pick:like:1:9", "pick:rate:1:11", "pick:rate:1:0", "zzz:1",
                 "likes:-5", "forget:", "forget:2", "wl:99999999999999999999", "like:١٢",
                 "more:1"]:
        assert decode(data) is None, data


@given(st.text(max_size=100))
def test_any_text_decodes_to_a_payload_or_nothing(data):
    payload = decode(data)
    assert payload is None or decode(encode(payload)) == payload
