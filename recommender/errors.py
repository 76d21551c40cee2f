"""Named exceptions for everything a user can get wrong or the world can break.

The command line turns any of these into one clear line on stderr and exit code 2,
so a user never sees a traceback for a problem they can fix.
"""


class RecommenderError(Exception):
    """Base class: the message is written for the user and says how to fix it."""


class DownloadError(RecommenderError):
    """A file could not be downloaded (HTTP error, truncated body, too many retries)."""


class OfflineError(DownloadError):
    """The server could not be reached at all (no network, DNS failure, refused)."""


class ChecksumMismatch(DownloadError):
    """A downloaded file does not match its published checksum."""


class DatasetNotFound(RecommenderError):
    """The requested data set is unknown, or has not been fetched yet."""


class UnsupportedLayout(RecommenderError):
    """A folder or zip holds no MovieLens layout we can read."""


class JavaUnavailable(RecommenderError):
    """No Java 17 or 21 runtime could be found or installed."""


class SparkUnavailable(RecommenderError):
    """Spark could not start (JVM crash, bad master URL, out of memory)."""


class ModelError(RecommenderError):
    """A model artifact is missing, incomplete or inconsistent."""
