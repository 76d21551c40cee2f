"""Sample IMDb and Letterboxd exports in their real formats, with MovieLens 100K titles.

IMDb's "Your ratings" CSV as IMDb writes it today (a BOM, 14 columns, ratings 1-10, IMDb's
own titles such as "Star Wars: Episode V - The Empire Strikes Back") and as it wrote it
before 2017 (``const``, ``You rated``, ``Title type``, ``Num. Votes``), IMDb's watchlist
CSV, and Letterboxd's export zip (``ratings.csv``, ``diary.csv``, ``likes/films.csv``,
``watched.csv``, ``watchlist.csv``, plus files we ignore). The titles are ML-100K's; the
small test model (``tests/bot_model.py``) holds some of them, so each sample has titles
matched by IMDb id, by title and year, by a guess, and not at all.
"""

from __future__ import annotations

import csv
import io
import zipfile

IMDB_HEADER = ["Const", "Your Rating", "Date Rated", "Title", "Original Title", "URL",
               "Title Type", "IMDb Rating", "Runtime (mins)", "Year", "Genres", "Num Votes",
               "Release Date", "Directors"]

# (const, your rating, date rated, title, title type, year, genres, directors)
IMDB_ROWS = [
    ("tt0076759", 10, "2024-03-01", "Star Wars: Episode IV - A New Hope", "movie", 1977,
     "Action, Adventure, Fantasy", "George Lucas"),
    ("tt0116282", 9, "2024-03-02", "Fargo", "movie", 1996, "Crime, Drama, Thriller",
     "Joel Coen, Ethan Coen"),
    ("tt0068646", 8, "2024-03-03", "The Godfather", "movie", 1972, "Crime, Drama",
     "Francis Ford Coppola"),
    ("tt0078748", 7, "2024-03-04", "Alien", "movie", 1979, "Horror, Sci-Fi", "Ridley Scott"),
    ("tt0080684", 10, "2024-03-05", "Star Wars: Episode V - The Empire Strikes Back", "movie",
     1980, "Action, Adventure, Fantasy", "Irvin Kershner"),
    ("tt0100405", 3, "2024-03-06", "Pretty Woman", "movie", 1990, "Comedy, Romance",
     "Garry Marshall"),
    ("tt0903747", 10, "2024-03-07", "Breaking Bad", "tvSeries", 2008,
     "Crime, Drama, Thriller", ""),
    ("tt2301451", 10, "2024-03-08", "Breaking Bad: Ozymandias", "tvEpisode", 2013,
     "Crime, Drama, Thriller", "Rian Johnson"),
    ("tt0114709", 8, "2024-03-09", "Toy Story", "movie", 1995,
     "Animation, Adventure, Comedy", "John Lasseter"),
    ("tt0113189", 6, "2024-03-10", "GoldenEye", "movie", 1995, "Action, Adventure, Thriller",
     "Martin Campbell"),
]


def imdb_ratings(rows: list[tuple] = IMDB_ROWS) -> bytes:
    """IMDb's "Your ratings" export as downloaded today: UTF-8 with a BOM, CRLF lines."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(IMDB_HEADER)
    for const, rating, date, title, kind, year, genres, directors in rows:
        writer.writerow([const, rating, date, title, title,
                         f"https://www.imdb.com/title/{const}/", kind, "8.0", "120", year,
                         genres, "100000", f"{year}-05-25", directors])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def imdb_ratings_before_2017() -> bytes:
    """The older layout: lowercase ids, "You rated", "Title type" in words."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["position", "const", "created", "modified", "description", "Title",
                     "Title type", "Directors", "You rated", "IMDb Rating", "Runtime (mins)",
                     "Year", "Genres", "Num. Votes", "Release Date (month/day/year)", "URL"])
    writer.writerow(["1", "tt0116282", "Sat Jan 14 00:00:00 2017", "", "", "Fargo",
                     "Feature Film", "Joel Coen", "9", "8.1", "98", "1996", "crime, drama",
                     "600000", "1996-04-05", "http://www.imdb.com/title/tt0116282/"])
    writer.writerow(["2", "tt0125439", "Sun Jan 15 00:00:00 2017", "", "", "Notting Hill",
                     "Feature Film", "Roger Michell", "4", "7.2", "124", "1999",
                     "comedy, romance", "300000", "1999-05-13",
                     "http://www.imdb.com/title/tt0125439/"])
    writer.writerow(["3", "tt0903747", "Mon Jan 16 00:00:00 2017", "", "", "Breaking Bad",
                     "TV Series", "", "10", "9.5", "49", "2008", "crime, drama", "2000000",
                     "2008-01-20", "http://www.imdb.com/title/tt0903747/"])
    return out.getvalue().encode("utf-8")


def imdb_watchlist() -> bytes:
    """IMDb's watchlist export: a Position column, Your Rating mostly empty."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Position", "Const", "Created", "Modified", "Description", "Title",
                     "Original Title", "URL", "Title Type", "IMDb Rating", "Runtime (mins)",
                     "Year", "Genres", "Num Votes", "Release Date", "Directors",
                     "Your Rating", "Date Rated"])
    writer.writerow(["1", "tt0090605", "2024-02-01", "2024-02-01", "", "Aliens", "Aliens",
                     "https://www.imdb.com/title/tt0090605/", "movie", "8.4", "137", "1986",
                     "Action, Adventure, Sci-Fi", "800000", "1986-07-18", "James Cameron",
                     "", ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


LETTERBOXD = "https://boxd.it/"


def _letterboxd_csv(header: list[str], rows: list[list]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def letterboxd_files() -> dict[str, str]:
    """The CSVs of a Letterboxd export, by their path in the zip."""
    base = ["Date", "Name", "Year", "Letterboxd URI"]
    return {
        "ratings.csv": _letterboxd_csv([*base, "Rating"], [
            ["2024-01-02", "Star Wars", 1977, LETTERBOXD + "29Wu", 5],
            ["2024-01-03", "The Godfather", 1972, LETTERBOXD + "2b7a", 4.5],
            ["2024-01-04", "Aliens", 1985, LETTERBOXD + "29Wy", 4],  # a year off
            ["2024-01-05", "Love Actually", 2003, LETTERBOXD + "2aDK", 2],
            ["2024-01-06", "Toy Story", 1995, LETTERBOXD + "2a9q", 4],
        ]),
        "diary.csv": _letterboxd_csv(
            [*base, "Rating", "Rewatch", "Tags", "Watched Date"], [
                ["2024-01-02", "Star Wars", 1977, LETTERBOXD + "aaa1", 4, "", "", "2024-01-01"],
                ["2024-01-07", "Fargo", 1996, LETTERBOXD + "aaa2", 3, "", "", "2024-01-06"],
                ["2024-01-08", "Dune", 1984, LETTERBOXD + "aaa3", "", "Yes", "", "2024-01-08"],
            ]),
        "likes/films.csv": _letterboxd_csv(base, [
            ["2024-01-02", "Star Wars", 1977, LETTERBOXD + "29Wu"],
            ["2024-01-09", "The Empire Strikes Back", 1980, LETTERBOXD + "29Wv"],
        ]),
        "watched.csv": _letterboxd_csv(base, [
            ["2024-01-02", "Star Wars", 1977, LETTERBOXD + "29Wu"],
            ["2024-01-10", "Notting Hill", 1999, LETTERBOXD + "2aBx"],
            ["2024-01-11", "GoldenEye", 1995, LETTERBOXD + "2a0c"],
        ]),
        "watchlist.csv": _letterboxd_csv(base, [
            ["2024-01-12", "Return of the Jedi", 1983, LETTERBOXD + "29Ww"],
            ["2024-01-13", "Dune", 2021, LETTERBOXD + "nBnu"],
        ]),
        "profile.csv": _letterboxd_csv(["Date Joined", "Username", "Given Name"],
                                       [["2020-01-01", "ann", "Ann"]]),
        "reviews.csv": _letterboxd_csv([*base, "Rating", "Rewatch", "Review", "Tags",
                                        "Watched Date"], []),
        "deleted/ratings.csv": _letterboxd_csv([*base, "Rating"], [
            ["2023-01-01", "Pretty Woman", 1990, LETTERBOXD + "zzz", 1]]),
        "lists/ratings.csv": _letterboxd_csv(["Date", "Name", "Tags", "URL", "Description"], [
            ["2023-01-01", "ratings", "", "https://boxd.it/list", "a list, not the ratings"]]),
    }


def letterboxd_zip(folder: str = "") -> bytes:
    """The export zip as Letterboxd sends it (``folder``: the files under one folder)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        # The subfolders first, so a list called "ratings" comes before ratings.csv.
        for name, text in sorted(letterboxd_files().items(), key=lambda f: "/" not in f[0]):
            archive.writestr(folder + name, text)
    return out.getvalue()
