"""The bot's SQLite storage: users, their likes and ratings, watchlists and what they were shown.

Import from here; ``storage.schema`` holds the migrations.
"""

import sys


def _import_sqlite_utils_without_pandas() -> None:
    """Import sqlite_utils with pandas hidden unless something already loaded it.

    sqlite_utils imports pandas whenever it is installed (streamlit installs it), only to
    map ``pandas.Timestamp`` columns, which this project never writes; pandas and the
    pyarrow it pulls in cost every bot process about 40 MB.
    """
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # import pandas -> ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_sqlite_utils_without_pandas()

from storage.db import (  # noqa: E402
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
