"""Retrying a call to a chat network: a few attempts, each wait longer than the last.

Both adapters use it for what their libraries do not retry themselves; each says which
failures are worth another try (a timeout is, a "bad request" is not).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """``tries`` attempts in all, waiting ``first`` seconds, then ``factor`` times longer
    each time."""

    tries: int = 5
    first: float = 0.5
    factor: float = 2.0

    async def run(self, call: Callable[[], Awaitable[T]],
                  transient: Callable[[Exception], bool]) -> T:
        """``call``'s result; a failure ``transient`` says may pass is tried again, any
        other failure, or the last, is raised."""
        delay = self.first
        for attempt in range(1, self.tries + 1):
            try:
                return await call()
            except Exception as exc:
                if attempt == self.tries or not transient(exc):
                    raise
                log.info("call failed (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay *= self.factor
        raise AssertionError("unreachable")  # the loop returns or raises
