"""Local mirrors of GroupLens' ``ml-32m.zip`` and IMDb's TSVs, in their real formats and sizes.

GroupLens and IMDb are unreachable from this machine, so the 32M pipeline is measured
against synthetic files shaped like the real ones:

- ``ml-32m.zip`` (+ ``ml-32m.zip.md5``): top folder ``ml-32m/`` with ``ratings.csv``
  (userId,movieId,rating,timestamp; ~32,000,000 rows of 200,948 users sorted by user then
  movie, at least 20 ratings per user, Zipf-shaped activity and popularity, half stars
  with MovieLens's skew), ``movies.csv`` (87,585 movies, "Title (Year)", quoted titles
  with commas, pipe-separated genres), ``links.csv``, ``tags.csv``, ``README.txt``;
- ``title.basics.tsv.gz`` (~12,000,000 titles, mostly episodes), ``title.ratings.tsv.gz``
  (~1,500,000) and ``title.crew.tsv.gz`` (~11,000,000): tab separated, ``\\N`` for null,
  no quoting. Every ``links.csv`` imdbId is a movie row of ``title.basics``.

Everything is vectorised numpy/pyarrow and written in chunks (about 5 minutes here).

Usage::

    python -m bench.mirror generate --out /work/scale-data [--ratings 32000000]
    python -m bench.mirror serve --dir /work/scale-data --port 8765

``serve`` is a plain HTTP file server on 127.0.0.1 that honours ``Range`` (resumed
downloads), as GroupLens' and IMDb's servers do.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import time
import zipfile
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

USERS = 200_948
MOVIES = 87_585
RATED_MOVIES = 84_432
RATINGS = 32_000_204
TITLES = 12_000_000
IMDB_RATINGS = 1_500_000
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")
IMDB_GENRES = ("Action", "Adventure", "Animation", "Biography", "Comedy", "Crime",
               "Documentary", "Drama", "Family", "Fantasy", "History", "Horror", "Music",
               "Mystery", "Romance", "Sci-Fi", "Sport", "Thriller", "War", "Western")
# MovieLens 25M's share of each half star, 0.5 .. 5.0 (mean about 3.53).
STAR_SHARES = np.array([1.6, 3.1, 1.6, 6.6, 5.0, 19.6, 12.6, 26.6, 8.6, 14.7])
# Title types and their share of ~12M rows, as in IMDb's file in 2024.
TITLE_TYPES = {"tvEpisode": 0.69, "short": 0.09, "movie": 0.058, "video": 0.025,
               "tvSeries": 0.0195, "tvMiniSeries": 0.0045, "tvMovie": 0.0125,
               "tvSpecial": 0.0045, "videoGame": 0.0035, "tvShort": 0.001, "tvPilot": 0.0}
WORDS = ("Love", "Night", "Dark", "Last", "Man", "Woman", "City", "Blood", "Dead", "King",
         "Girl", "Story", "Life", "World", "House", "Day", "Star", "War", "Time", "Secret",
         "Lost", "Black", "Red", "Summer", "Winter", "Little", "Big", "Return", "Road", "Fire",
         "Ghost", "Dream", "Heart", "River", "Moon", "Sun", "Angel", "Devil", "Game", "Shadow",
         "Island", "Empire", "Wild", "Silent", "Golden", "Broken", "Hidden", "Final", "Cold")
FOREIGN = ("Liebe", "Nacht", "Amour", "Nuit", "Ciudad", "Sangre", "Vita", "Notte",
           "愛", "夜", "東京", "物語", "Любовь", "Ночь", "Город", "Война", "사랑", "밤",
           "Αγάπη", "Νύχτα", "الحب", "ליל", "प्रेम", "Rüya", "Sommar", "Żywot")
CHUNK_USERS = 25_000


def _shares(shares: np.ndarray) -> np.ndarray:
    return shares / shares.sum()


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    return _shares(1.0 / np.arange(1, n + 1) ** exponent)


def _join(parts: list[pa.Array], sep: str = " ") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _words(rng: np.random.Generator, vocab: tuple[str, ...], n: int, most: int) -> pa.Array:
    """``n`` titles of 1..``most`` words of ``vocab``, vectorised (no Python loop per row)."""
    words = pa.array(vocab)
    count = rng.integers(1, most + 1, n)
    parts = []
    for k in range(most):
        picked = words.take(pa.array(rng.integers(0, len(vocab), n)))
        parts.append(pc.if_else(pa.array(count > k), picked, pa.scalar("")))
    return pc.utf8_trim_whitespace(_join(parts))


def _genre_lists(rng: np.random.Generator, vocab: tuple[str, ...], n: int, sep: str) -> pa.Array:
    first = rng.integers(0, len(vocab), n)
    second = (first + rng.integers(1, len(vocab), n)) % len(vocab)
    names = pa.array(vocab)
    one = names.take(pa.array(first))
    two = _join([one, names.take(pa.array(second))], sep)
    return pc.if_else(pa.array(rng.random(n) < 0.45), one, two)


def _padded(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width, "0"), "")


def _write_text(table: pa.Table, out: pa.NativeFile, *, sep: str = ",",
                header: bool = True) -> None:
    """Rows as plain delimited text, quoting nothing (pyarrow's CSV writer quotes every
    string and the header, which neither GroupLens nor IMDb do); nulls are empty."""
    if header:
        out.write((sep.join(table.column_names) + "\n").encode())
    cols = [pc.fill_null(pc.cast(c, pa.string()), "") for c in table.columns]
    lines = pc.binary_join_element_wise(*cols, pa.scalar("\n"), sep)
    # "a,b,c," + "\n" joined by sep leaves "a,b,c,\n": drop the separator before "\n".
    lines = pc.utf8_slice_codeunits(lines, 0, -2)
    lines = pc.binary_join_element_wise(lines, pa.scalar("\n"), "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    out.write(lines.buffers()[2][first:last])


def _quoted(titles: pa.Array) -> pa.Array:
    """RFC 4180 quoting, only where a title needs it (a comma or a quote), as GroupLens does."""
    escaped = pc.replace_substring(titles, '"', '""')
    needs = pc.or_(pc.match_substring(titles, ","), pc.match_substring(titles, '"'))
    return pc.if_else(needs, pc.binary_join_element_wise('"', escaped, '"', ""), titles)


def _write_file(table: pa.Table, path: Path) -> None:
    with pa.OSFile(str(path), "wb") as out:
        _write_text(table, out)


# --- MovieLens ---------------------------------------------------------------------------

def movie_ids(rng: np.random.Generator) -> np.ndarray:
    """87,585 sorted ids with MovieLens's gaps (1 .. ~292,000)."""
    dense = np.arange(1, 10_001)
    sparse = np.sort(rng.choice(np.arange(10_001, 292_758), MOVIES - len(dense), replace=False))
    return np.concatenate([dense, sparse])


def movies_table(rng: np.random.Generator, ids: np.ndarray) -> pa.Table:
    n = len(ids)
    years = rng.integers(1900, 2024, n)
    base = _words(rng, WORDS, n, 4)
    # ~8% "Name, The (Year)" and a few with a comma inside (both need quoting in CSV).
    comma = rng.random(n)
    base = pc.if_else(pa.array(comma < 0.06), _join([base, pa.scalar("The")], ", "), base)
    base = pc.if_else(pa.array((comma >= 0.06) & (comma < 0.08)),
                      _join([base, pa.scalar("Part II")], ", "), base)
    aka = pc.binary_join_element_wise(base, " (a.k.a. ",
                                      _words(rng, FOREIGN, n, 2), ")", "")
    base = pc.if_else(pa.array(rng.random(n) < 0.05), aka, base)
    year_text = pc.binary_join_element_wise("(", pc.cast(pa.array(years), pa.string()), ")", "")
    titles = _join([base, year_text])
    genres = _genre_lists(rng, GENRES, n, "|")
    genres = pc.if_else(pa.array(rng.random(n) < 0.08), pa.scalar("(no genres listed)"), genres)
    return pa.table({"movieId": pa.array(ids, pa.int32()), "title": _quoted(titles),
                     "genres": genres})


def user_activity(rng: np.random.Generator, users: int, total: int) -> np.ndarray:
    """Ratings per user: at least 20 (GroupLens' rule), heavy-tailed, summing to ``total``."""
    # Log-normal extra ratings: median ~70, mean ~160, a few users with thousands.
    raw = rng.lognormal(0.0, 1.25, users)
    counts = 20 + np.floor(raw / raw.sum() * (total - 20 * users)).astype(np.int64)
    counts = np.minimum(counts, 30_000)  # the most active real user has ~33,000
    short = int(total - counts.sum())
    return counts + np.bincount(rng.integers(0, users, max(short, 0)), minlength=users)


def _ratings_chunk(rng: np.random.Generator, first_user: int, counts: np.ndarray,
                   popular: np.ndarray, groups: np.ndarray, n_groups: int,
                   ids: np.ndarray) -> pa.Table:
    """One slice of users: distinct movies each, sorted by user then movie."""
    n_items = len(popular)
    users = np.repeat(np.arange(first_user, first_user + len(counts)), counts)
    taste = rng.integers(0, n_groups, len(counts))[users - first_user]
    # Half the picks come from the user's taste group: likes cluster, as real ones do.
    draw = rng.choice(n_items, size=len(users), p=_zipf_weights(n_items, 0.95))
    in_group = rng.random(len(users)) < 0.5
    offsets = rng.choice(groups.shape[1], size=int(in_group.sum()),
                         p=_zipf_weights(groups.shape[1], 0.9))
    draw[in_group] = groups[taste[in_group], offsets]
    key = np.unique(users.astype(np.int64) * n_items + draw)
    user = key // n_items
    movie = ids[popular[key % n_items]]
    order = np.lexsort((movie, user))
    user, movie = user[order], movie[order]
    n = len(user)
    # A per-movie bias (some films are better liked) on MovieLens's star shares.
    bias = (np.sin(movie * 12.9898) * 0.52).round().astype(np.int64)
    stars = np.clip(rng.choice(10, size=n, p=_shares(STAR_SHARES)) + bias, 0, 9)
    labels = pa.array([f"{(s + 1) / 2:.1f}" for s in range(10)])
    start = rng.integers(822_873_600, 1_697_000_000, len(counts))[user - first_user]
    ts = start + rng.integers(0, 86_400 * 400, n)
    return pa.table({"userId": pa.array(user + 1, pa.int32()),
                     "movieId": pa.array(movie, pa.int32()),
                     "rating": labels.take(pa.array(stars)),
                     "timestamp": pa.array(ts, pa.int64())})


def write_ratings(rng: np.random.Generator, path: Path, ids: np.ndarray, total: int,
                  users: int) -> int:
    """``ratings.csv``, chunk by chunk; returns the rows written."""
    rated = np.sort(rng.choice(len(ids), RATED_MOVIES, replace=False))
    popular = rng.permutation(rated)  # popularity rank -> row of ``ids``
    n_groups = 40
    groups = np.stack([rng.permutation(len(popular))[:4000] for _ in range(n_groups)])
    groups.sort(axis=1)  # sorted rows: a group's lowest popularity ranks are its hits
    # Drawing with replacement loses pairs to duplicates: 1.07x gave 26.5M of 32M rows,
    # 1.29x gave 31.1M.
    counts = user_activity(rng, users, int(total * 1.335))
    written = 0
    with pa.OSFile(str(path), "wb") as out:
        for first in range(0, users, CHUNK_USERS):
            table = _ratings_chunk(rng, first, counts[first:first + CHUNK_USERS], popular,
                                   groups, n_groups, ids)
            _write_text(table, out, header=first == 0)
            written += table.num_rows
    return written


def links_table(rng: np.random.Generator, ids: np.ndarray, imdb: np.ndarray) -> pa.Table:
    tmdb = pa.array(rng.integers(2, 1_200_000, len(ids)))
    missing = pa.array(rng.random(len(ids)) < 0.002)
    return pa.table({"movieId": pa.array(ids, pa.int32()),
                     "imdbId": pc.utf8_lpad(pc.cast(pa.array(imdb), pa.string()), 7, "0"),
                     "tmdbId": pc.if_else(missing, pa.scalar(None, pa.int64()), tmdb)})


def tags_table(rng: np.random.Generator, ids: np.ndarray, n: int = 2_000_000) -> pa.Table:
    return pa.table({"userId": pa.array(np.sort(rng.integers(1, USERS + 1, n)), pa.int32()),
                     "movieId": pa.array(ids[rng.integers(0, len(ids), n)], pa.int32()),
                     "tag": _words(rng, WORDS, n, 2),
                     "timestamp": pa.array(rng.integers(1_137_000_000, 1_697_000_000, n))})


def write_movielens(rng: np.random.Generator, out: Path, imdb_movies: np.ndarray,
                    total: int, users: int) -> dict:
    """``ml-32m.zip`` and ``ml-32m.zip.md5`` in ``out``; returns counts."""
    work = out / "ml-32m"
    work.mkdir(parents=True, exist_ok=True)
    ids = movie_ids(rng)
    _write_file(movies_table(rng, ids), work / "movies.csv")
    _write_file(links_table(rng, ids, imdb_movies), work / "links.csv")
    _write_file(tags_table(rng, ids), work / "tags.csv")
    rows = write_ratings(rng, work / "ratings.csv", ids, total, users)
    (work / "README.txt").write_text("Synthetic mirror of MovieLens 32M (bench/mirror.py).\n")
    archive = out / "ml-32m.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr(zipfile.ZipInfo("ml-32m/"), b"")
        for name in ("README.txt", "links.csv", "movies.csv", "ratings.csv", "tags.csv"):
            zf.write(work / name, f"ml-32m/{name}")
    digest = hashlib.md5()
    with archive.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    (out / "ml-32m.zip.md5").write_text(f"{digest.hexdigest()}  ml-32m.zip\n")
    shutil.rmtree(work)
    return {"ratings": rows, "movies": len(ids), "zip_bytes": archive.stat().st_size}


# --- IMDb --------------------------------------------------------------------------------

def imdb_layout(rng: np.random.Generator, titles: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted tconst numbers and a title type index for each of ~12M titles."""
    numbers = np.sort(rng.choice(np.arange(1, 32_000_000), titles, replace=False))
    names = list(TITLE_TYPES)
    types = rng.choice(len(names), titles, p=_shares(np.array(list(TITLE_TYPES.values()))))
    return numbers, types


def _basics_chunk(rng: np.random.Generator, numbers: np.ndarray, types: np.ndarray) -> pa.Table:
    n = len(numbers)
    kind = pa.array(list(TITLE_TYPES)).take(pa.array(types))
    episode = types == list(TITLE_TYPES).index("tvEpisode")
    series = np.isin(types, [list(TITLE_TYPES).index(t) for t in ("tvSeries", "tvMiniSeries")])
    season = pc.cast(pa.array(rng.integers(1, 12, n)), pa.string())
    number = pc.cast(pa.array(rng.integers(1, 40, n)), pa.string())
    ep_title = pc.binary_join_element_wise("Episode #", season, ".", number, "")
    primary = pc.if_else(pa.array(episode), ep_title, _words(rng, WORDS, n, 4))
    # ~25% of the rest have an original title of their own, some in non-Latin scripts.
    other = pa.array(~episode & (rng.random(n) < 0.25))
    original = pc.if_else(other, _words(rng, FOREIGN, n, 3), primary)
    start = rng.integers(1894, 2026, n)
    null = pa.scalar("\\N")
    start_text = pc.if_else(pa.array(rng.random(n) < 0.12), null,
                            pc.cast(pa.array(start), pa.string()))
    end = pc.cast(pa.array(start + rng.integers(0, 12, n)), pa.string())
    end_text = pc.if_else(pa.array(series & (rng.random(n) < 0.6)), end, null)
    runtime = pc.if_else(pa.array(rng.random(n) < 0.6), null,
                         pc.cast(pa.array(rng.integers(5, 180, n)), pa.string()))
    genres = pc.if_else(pa.array(rng.random(n) < 0.1), null,
                        _genre_lists(rng, IMDB_GENRES, n, ","))
    adult = pc.cast(pa.array((rng.random(n) < 0.02).astype(np.int8)), pa.string())
    return pa.table({"tconst": _padded("tt", numbers, 7), "titleType": kind,
                     "primaryTitle": primary, "originalTitle": original, "isAdult": adult,
                     "startYear": start_text, "endYear": end_text,
                     "runtimeMinutes": runtime, "genres": genres})


def _crew_chunk(rng: np.random.Generator, numbers: np.ndarray) -> pa.Table:
    n = len(numbers)
    null = pa.scalar("\\N")
    one = _padded("nm", rng.integers(1, 15_000_000, n), 7)
    two = _join([one, _padded("nm", rng.integers(1, 15_000_000, n), 7)], ",")
    directors = pc.if_else(pa.array(rng.random(n) < 0.3), null, one)
    writers = pc.if_else(pa.array(rng.random(n) < 0.4), null,
                         pc.if_else(pa.array(rng.random(n) < 0.3), two, one))
    return pa.table({"tconst": _padded("tt", numbers, 7), "directors": directors,
                     "writers": writers})


def _tenths(values: np.ndarray) -> pa.Array:
    """Integers in tenths as IMDb prints ratings: 57 -> "5.7", 60 -> "6.0"."""
    whole = pc.cast(pa.array(values // 10), pa.string())
    return pc.binary_join_element_wise(whole, pc.cast(pa.array(values % 10), pa.string()), ".")


def write_imdb(rng: np.random.Generator, out: Path, linked: np.ndarray,
               numbers: np.ndarray, types: np.ndarray) -> dict:
    """The three gzip TSVs; ``linked`` are the tconst numbers of MovieLens's movies."""
    chunk = 1_000_000
    crew_keep = rng.random(len(numbers)) < 11 / 12
    with pa.CompressedOutputStream(str(out / "title.basics.tsv.gz"), "gzip") as basics, \
            pa.CompressedOutputStream(str(out / "title.crew.tsv.gz"), "gzip") as crew:
        for first in range(0, len(numbers), chunk):
            part = slice(first, first + chunk)
            table = _basics_chunk(rng, numbers[part], types[part])
            # MovieLens's movies are never adult and always have a year.
            is_linked = pa.array(np.isin(numbers[part], linked))
            table = table.set_column(4, "isAdult",
                                     pc.if_else(is_linked, pa.scalar("0"), table["isAdult"]))
            year = pc.if_else(is_linked, pa.scalar("1999"), table["startYear"])
            table = table.set_column(5, "startYear",
                                     pc.if_else(pc.equal(table["startYear"], "\\N"), year,
                                                table["startYear"]))
            _write_text(table, basics, sep="\t", header=first == 0)
            keep = crew_keep[part]
            _write_text(_crew_chunk(rng, numbers[part][keep]), crew, sep="\t",
                        header=first == 0)
    wanted = max(len(numbers) * IMDB_RATINGS // TITLES - len(linked), 0)
    rated = np.union1d(linked, rng.choice(numbers, wanted, replace=False))
    votes = np.floor(5 + rng.pareto(0.9, len(rated)) * 20).astype(np.int64).clip(max=3_000_000)
    popular = np.isin(rated, linked)
    votes[popular] = votes[popular] * 10
    ratings = pa.table({"tconst": _padded("tt", rated, 7),
                        "averageRating": _tenths(np.clip(rng.normal(66, 12, len(rated)),
                                                         10, 100).astype(np.int64)),
                        "numVotes": pa.array(votes)})
    with pa.CompressedOutputStream(str(out / "title.ratings.tsv.gz"), "gzip") as stream:
        _write_text(ratings, stream, sep="\t")
    return {"titles": len(numbers), "crew": int(crew_keep.sum()), "rated": len(rated)}


def generate(out: Path, ratings: int = RATINGS, users: int = USERS, titles: int = TITLES,
             seed: int = 32) -> dict:
    """Write every mirror file into ``out``; returns what was written and how long it took."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    numbers, types = imdb_layout(rng, titles)
    movie_rows = np.flatnonzero(types == list(TITLE_TYPES).index("movie"))
    # Most MovieLens films are old enough for a 7-digit tconst; ~15% have 8 digits.
    old = movie_rows[numbers[movie_rows] < 10_000_000]
    new = movie_rows[numbers[movie_rows] >= 10_000_000]
    n_new = min(len(new), MOVIES * 15 // 100)
    linked = np.sort(numbers[np.concatenate([rng.choice(old, MOVIES - n_new, replace=False),
                                             rng.choice(new, n_new, replace=False)])])
    imdb = write_imdb(rng, out, linked, numbers, types)
    imdb_s = time.monotonic() - started
    ml = write_movielens(rng, out, rng.permutation(linked), ratings, users)
    return {"movielens": ml, "imdb": imdb, "imdb_s": round(imdb_s, 1),
            "seconds": round(time.monotonic() - started, 1)}


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` answered by 206, as CDNs do."""

    def log_message(self, *args: object) -> None:  # one line per download is noise here
        pass

    def send_head(self):
        spec = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not spec.startswith("bytes=") or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(spec.removeprefix("bytes=").split("-")[0] or 0)
        if start >= size:
            self.send_error(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            return None
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.send_header("Content-Length", str(size - start))
        self.end_headers()
        return handle


def serve(folder: Path, port: int) -> None:
    """Serve ``folder`` on 127.0.0.1:``port`` until interrupted."""
    handler = lambda *a, **k: RangeHandler(*a, directory=str(folder), **k)  # noqa: E731
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        print(f"Serving {folder} on http://127.0.0.1:{httpd.server_address[1]}", flush=True)
        httpd.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--ratings", type=int, default=RATINGS)
    gen.add_argument("--users", type=int, default=USERS)
    gen.add_argument("--titles", type=int, default=TITLES, help="IMDb titles (>= 1.6M)")
    srv = commands.add_parser("serve")
    srv.add_argument("--dir", type=Path, required=True)
    srv.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if args.command == "generate":
        import json

        print(json.dumps({**generate(args.out, args.ratings, args.users, args.titles),
                          "load": os.getloadavg()}))
    else:
        serve(args.dir, args.port)


if __name__ == "__main__":
    main()
