"""The bot's collected ratings, read from its SQLite database as arrays for training.

The one place where training meets storage: ``recommender`` takes the arrays
(:class:`recommender.train.BotRatings`) and never opens the database itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recommender.train import BOT_USER_ID_BASE, BotRatings
from storage import Storage


def read_bot_ratings(db_path: Path) -> BotRatings:
    """Every rating, like and dislike in the database at ``db_path`` (none if there is no
    file), from :meth:`storage.Storage.training_ratings`.

    Users are numbered from :data:`recommender.train.BOT_USER_ID_BASE` by (platform,
    platform user id) in order of appearance, so the same database always gives the
    same numbering.
    """
    numbering: dict[tuple[str, str], int] = {}
    users, items, ratings, times = [], [], [], []
    if Path(db_path).is_file():
        with Storage(db_path) as store:
            for platform, key, item, rating, ts in store.training_ratings():
                users.append(numbering.setdefault((platform, key),
                                                  BOT_USER_ID_BASE + len(numbering)))
                items.append(item)
                ratings.append(rating)
                times.append(ts)
    return BotRatings(np.array(users, np.int64), np.array(items, np.int64),
                      np.array(ratings, np.float64), np.array(times, np.float64))
