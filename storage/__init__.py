"""The bot's SQLite storage: users, their likes and ratings, watchlists and what they were shown.

Import from here; ``storage.schema`` holds the migrations.
"""

from storage.db import (
    Feedback,
    InvalidRating,
    Said,
    Storage,
    StorageError,
    StorageFull,
    WatchItem,
)

__all__ = ["Feedback", "InvalidRating", "Said", "Storage", "StorageError", "StorageFull",
           "WatchItem"]
