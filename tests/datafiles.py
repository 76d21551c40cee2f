"""Tiny data files in the exact formats GroupLens and IMDb publish, written by tests."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
import zipfile
from pathlib import Path

ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western")

# (id, u.item title, release date, genres)
ML100K_ITEMS = [
    (1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"]),
    (2, "Matrix, The (1999)", "31-Mar-1999", ["Action", "Sci-Fi"]),
    (3, "Dune (1984)", "14-Dec-1984", ["Sci-Fi"]),
    (4, "Dune (2000)", "03-Dec-2000", ["Sci-Fi", "Drama"]),
    (5, "Misérables, Les (1995)", "01-Jan-1995", ["Drama", "Musical"]),
    (6, "Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)", "01-Jan-1995", ["Drama"]),
    (7, "unknown", "", ["unknown"]),
]
# user, item, rating, timestamp; the last three lines are bad on purpose.
ML100K_RATINGS = [
    (1, 1, 5, 881250949), (1, 2, 4, 881250950), (1, 3, 3, 881250951),
    (2, 1, 4, 881250952), (2, 4, 2, 881250953), (2, 5, 5, 881250954),
    (3, 2, 5, 881250955), (3, 6, 1, 881250956), (3, 7, 3, 881250957),
    (4, 1, 3, 881250958), (4, 2, 5, 881250959),
]
ML100K_BAD_LINES = ["5\t1\t7\t881250960", "5\tabc\t3\t881250961", "5\t999\t4\t881250962"]


def ml100k_zip(path: Path) -> Path:
    """A zip shaped like GroupLens' ml-100k.zip (folder ml-100k/, Latin-1 u.item)."""
    data = "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ML100K_RATINGS)
    data += "".join(line + "\n" for line in ML100K_BAD_LINES)
    items = []
    for item_id, title, date, genres in ML100K_ITEMS:
        flags = "|".join("1" if g in genres else "0" for g in ML100K_GENRES)
        url = "http://us.imdb.com/M/title-exact?" + title.replace(" ", "%20")
        items.append(f"{item_id}|{title}|{date}||{url}|{flags}\n")
    genre = "".join(f"{g}|{i}\n" for i, g in enumerate(ML100K_GENRES)) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-100k/", "")
        archive.writestr("ml-100k/u.data", data)
        archive.writestr("ml-100k/u.item", "".join(items).encode("latin-1"))
        archive.writestr("ml-100k/u.genre", genre)
        archive.writestr("ml-100k/u.user", "1|24|M|technician|85711\n")
        archive.writestr("ml-100k/README", "MovieLens 100K fixture\n")
    return path


def recbole_folder(folder: Path) -> Path:
    """RecBole's ml-100k copy: typed headers, title without year, space-separated genres."""
    folder.mkdir(parents=True, exist_ok=True)
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
        f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ML100K_RATINGS)
    (folder / "ml-100k.inter").write_text(inter, encoding="utf-8")
    item = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    item += "1\tToy Story\t1995\tAnimation Children's Comedy\n"
    item += "2\tMatrix, The\t1999\tAction Sci-Fi\n"
    item += "3\tDune\t1984\tSci-Fi\n4\tDune\t2000\tSci-Fi Drama\n"
    item += "5\tMisérables, Les\t1995\tDrama Musical\n"
    item += "6\tShanghai Triad (Yao a yao yao dao waipo qiao)\t1995\tDrama\n"
    item += "7\tunkonwn\tunkonwn\tunknown\n"
    (folder / "ml-100k.item").write_text(item, encoding="utf-8")
    (folder / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t24\tM\ttechnician\t85711\n", encoding="utf-8")
    return folder


CSV_MOVIES = [
    (1, "Toy Story (1995)", "Adventure|Animation|Children|Comedy|Fantasy", "0114709"),
    (11, '"American President, The (1995)"', "Comedy|Drama|Romance", "0112346"),
    (293, '"Léon: The Professional (a.k.a. The Professional) (Léon) (1994)"',
     "Action|Crime|Drama|Thriller", "0110413"),
    (2571, '"Matrix, The (1999)"', "Action|Sci-Fi|Thriller", "0133093"),
    (149532, "Hyena Road", "(no genres listed)", "4120176"),
    (171749, "Death Note: Desu nôto (2006–2007)", "(no genres listed)", "0877057"),
]
CSV_RATINGS = [
    (1, 1, 4.0, 964982703), (1, 11, 4.5, 964981247), (1, 2571, 5.0, 964982224),
    (2, 1, 0.5, 1445714835), (2, 293, 3.5, 1445714836), (2, 149532, 3.0, 1445714837),
    (3, 2571, 4.0, 1306463578), (3, 171749, 2.5, 1306463579),
]
CSV_BAD_LINES = ["3,1,6.0,1306463580", "3,11,2.3,1306463581", "3,77777,4.0,1306463582",
                 "garbage line", "4,1,4.0"]


def csv_zip(path: Path, *, links: bool = True, top: str = "ml-latest-small") -> Path:
    """A zip shaped like ml-latest-small.zip / ml-25m.zip (CSV with headers and quotes)."""
    movies = "movieId,title,genres\n" + "".join(
        f"{i},{t},{g}\n" for i, t, g, _ in CSV_MOVIES)
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{r},{t}\n" for u, i, r, t in CSV_RATINGS) + "".join(
        line + "\n" for line in CSV_BAD_LINES)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{top}/movies.csv", movies)
        archive.writestr(f"{top}/ratings.csv", ratings)
        if links:
            archive.writestr(f"{top}/links.csv", "movieId,imdbId,tmdbId\n" + "".join(
                f"{i},{imdb},{i * 10}\n" for i, _, _, imdb in CSV_MOVIES))
        archive.writestr(f"{top}/README.txt", "fixture\n")
    return path


BASICS_HEADER = ("tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\t"
                 "runtimeMinutes\tgenres")
IMDB_BASICS = [
    ("tt0114709", "movie", "Toy Story", "Toy Story", "0", "1995", r"\N", "81",
     "Adventure,Animation,Comedy"),
    ("tt0133093", "movie", "The Matrix", "The Matrix", "0", "1999", r"\N", "136",
     "Action,Sci-Fi"),
    ("tt0087182", "movie", "Dune", "Dune", "0", "1984", r"\N", "137", "Action,Adventure,Sci-Fi"),
    ("tt0142032", "tvMiniSeries", "Dune", "Frank Herbert's Dune", "0", "2000", "2000", "265",
     "Adventure,Drama,Fantasy"),
    ("tt0113247", "movie", "Les Misérables", "Les misérables", "0", "1995", r"\N", "175",
     "Drama"),
    ("tt0115012", "movie", "Shanghai Triad", "Yao a yao yao dao waipo qiao", "0", "1995",
     r"\N", "108", "Crime,Drama"),
    # IMDb's own titles for two films of CSV_MOVIES: one adds nothing, one adds two.
    ("tt0110413", "movie", "Léon: The Professional", "Léon", "0", "1994", r"\N", "110",
     "Action,Crime,Drama"),
    ("tt0877057", "tvSeries", "Death Note", "Desu nôto", "0", "2006", "2007", "24",
     "Animation,Crime,Drama"),
    ("tt0903747", "tvSeries", "Breaking Bad", "Breaking Bad", "0", "2008", "2013", "45",
     "Crime,Drama,Thriller"),
    ("tt0185906", "tvMiniSeries", "Band of Brothers", "Band of Brothers", "0", "2001", "2001",
     "594", "Action,Drama,History"),
    ("tt9999991", "tvSeries", "Some \"Adult\" Show", "Some \"Adult\" Show", "1", "2010", r"\N",
     r"\N", r"\N"),
    ("tt9999992", "tvSeries", "Obscure Show", "Obscure Show", "0", "2015", r"\N", "30",
     "Comedy"),
    ("tt9999993", "tvEpisode", "Pilot", "Pilot", "0", "2008", r"\N", "58", "Drama"),
]
IMDB_RATINGS = [("tt0114709", "8.3", "1100000"), ("tt0133093", "8.7", "2100000"),
                ("tt0087182", "6.3", "160000"), ("tt0142032", "7.0", "21000"),
                ("tt0113247", "7.1", "15000"), ("tt0115012", "7.2", "4000"),
                ("tt0903747", "9.5", "2200000"), ("tt0185906", "9.4", "540000"),
                ("tt9999991", "5.0", "90000"), ("tt9999992", "7.7", "12"),
                ("tt9999993", "9.0", "30000")]


# title.crew: directors and writers as comma-separated nconst ids, \N for none. Frank
# Herbert (nm0378924) writes both Dunes, so a person links a film and a TV show.
CREW_HEADER = "tconst\tdirectors\twriters"
IMDB_CREW = [
    ("tt0114709", "nm0005124", "nm0005124,nm0230032,nm0004056"),
    ("tt0133093", "nm0905154,nm0905152", "nm0905152,nm0905154"),
    ("tt0087182", "nm0000186", "nm0378924,nm0000186"),
    ("tt0142032", "nm0365216", "nm0378924,nm0365216"),
    ("tt0113247", "nm0497485", r"\N"),
    ("tt0115012", "nm0955443", "nm0493993"),
    ("tt0903747", "nm0319213,nm0533713", "nm0319213"),
    ("tt0185906", r"\N", "nm0006625"),
    ("tt9999992", r"\N", r"\N"),
    ("tt9999993", "nm0533713", "nm0319213"),
]


def gzip_tsv(path: Path, header: str, rows: list[tuple[str, ...]]) -> Path:
    body = header + "\n" + "".join("\t".join(r) + "\n" for r in rows)
    path.write_bytes(gzip.compress(body.encode("utf-8")))
    return path


def imdb_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    gzip_tsv(folder / "title.basics.tsv.gz", BASICS_HEADER, IMDB_BASICS)
    gzip_tsv(folder / "title.ratings.tsv.gz", "tconst\taverageRating\tnumVotes", IMDB_RATINGS)
    gzip_tsv(folder / "title.crew.tsv.gz", CREW_HEADER, IMDB_CREW)
    return folder


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def foreign_sqlite(path: Path) -> Path:
    """Another program's SQLite database (one unrelated table) at ``path``."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices VALUES (1, 9.5)")
    conn.commit()
    conn.close()
    return path
