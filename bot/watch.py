"""Notice a new ``models/current`` and swap the running bot to it, or refuse it.

:meth:`ModelWatcher.check` is cheap when nothing changed (one ``readlink``); the
scheduler calls it every few seconds and right after each publish or rollback. A
model that fails validation is never served: the old one keeps answering and the
admins are told once per broken version.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bot.core import Conversation, index_titles
from recommender.artifacts import CURRENT
from recommender.errors import ModelError
from recommender.serve import Recommender

log = logging.getLogger(__name__)


class ModelWatcher:
    def __init__(self, conversation: Conversation, models_dir: Path) -> None:
        self.conversation = conversation
        self.models_dir = models_dir
        self._refused: str | None = None

    def target(self) -> str | None:
        """The version ``models/current`` names now, or None without a pointer."""
        try:
            return os.path.basename(os.readlink(self.models_dir / CURRENT))
        except OSError:
            return None

    def check(self) -> str | None:
        """Swap to a new current model; return its version, or None when nothing changed."""
        version = self.target()
        serving = self.conversation.recommender.version
        if version is None or version == serving or version == self._refused:
            return None
        try:
            recommender = Recommender.load(self.models_dir / version)
            title_index = index_titles(recommender)
        except (ModelError, OSError) as exc:
            self._refused = version
            log.error("refusing model %s: %s", version, exc)
            self.conversation.tell(None, f"⚠️ models/current points to {version}, which is "
                                         f"unusable, so I kept serving {serving}. {exc}")
            return None
        self.conversation.swap(recommender, title_index)
        self._refused = None
        log.info("now serving model %s (was %s)", version, serving)
        return version
