"""/import and /export on Telegram and Discord, end to end: the real python-telegram-bot
and discord.py against the fake APIs on 127.0.0.1, with real-format sample exports.

Telegram: the user sends the file as a document; the bot fetches it (getFile, then the
file URL) and answers with the report and the first picks; /export comes back as two
documents. Discord: ``/import file:<attachment>``; the bot fetches the attachment from its
URL; /export's files are attached to the answer. Each export is imported again by a second
user and gives back the same taste. The console: ``python -m bot`` with piped input,
``/import PATH`` and ``/export`` writing its files to the working directory.
"""

from __future__ import annotations

import asyncio
import html

import pytest

from bot.discord import DiscordBot
from bot.formats import MAX_BYTES
from bot.telegram import build_application
from recommender.preferences import split
from tests import exports
from tests.fake_discord import FakeDiscord, connect, dispatch
from tests.fake_telegram import FakeTelegram, run_bot

ANN, BOB = 1001, 1002


@pytest.fixture
def conversation(chat_with):
    return chat_with()


def taste_of(conversation, platform: str, user_id: int) -> tuple:
    uid = conversation.db.user(platform, str(user_id))
    likes, dislikes, neutral = split(conversation.db.ratings_of(uid))
    stored = conversation.db.user_data(uid)
    return (set(likes), set(dislikes), set(neutral),
            {r["item_id"]: r["rating"] for r in stored["ratings"]},
            {r["item_id"] for r in stored["watchlist"]}, {r["item_id"] for r in stored["seen"]})


def test_telegram_imports_documents_and_exports_files(conversation):
    texts: list[str] = []

    with FakeTelegram() as fake:
        async def answer(count: int) -> list[str]:
            calls = await asyncio.to_thread(fake.wait_for, "sendMessage", count)
            return [html.unescape(c["params"]["text"]) for c in calls]

        async def scenario() -> None:
            fake.send_document(exports.imdb_ratings(), "ratings.csv")
            report, picks = (await answer(2))[-2:]
            assert report.startswith("📥 Your IMDb file: 9 titles.\n✅ Matched 7: 6 liked")
            assert "🤔 1 of them by a guess: Star Wars: Episode V" in report
            assert "❓ Not in my catalogue, 2: Toy Story (1995); GoldenEye (1995)." in report
            assert picks.startswith("Picks for you:")

            fake.send_document(exports.letterboxd_zip("letterboxd-ann/"), "letterboxd-ann.zip",
                               mime_type="application/zip")
            report = (await answer(4))[-2]
            assert report.startswith("📥 Your Letterboxd file: 12 titles.")

            fake.send_document(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "scan.pdf",
                               mime_type="application/pdf")
            assert (await answer(5))[-1].startswith("⚠ I don't recognise that file.")
            fake.send_document(b"x", "huge.csv", file_size=MAX_BYTES + 1)
            assert "I take up to 5 MB and 20,000 rows" in (await answer(6))[-1]
            assert len(fake.calls("getFile")) == 3  # the big one was never fetched

            fake.send_text("/export")
            await asyncio.to_thread(fake.wait_for, "sendDocument", 2)
            texts.extend(await answer(7))
            csv_file = next(d for d in fake.documents() if d["filename"].endswith(".csv"))
            fake.send_document(csv_file["data"], csv_file["filename"], user_id=BOB)
            texts.append((await answer(9))[-2])  # the report; the picks come after it

        run_bot(build_application(conversation, fake.token, fake.api_url), scenario)
        names = sorted(d["filename"] for d in fake.documents())
    assert names == ["movie-bot-export.csv", "movie-bot-export.json"]
    assert texts[-1].startswith("📥 Your bot export file:")
    assert "guess" not in texts[-1] and "Not in my catalogue" not in texts[-1]
    assert taste_of(conversation, "telegram", BOB) == taste_of(conversation, "telegram", ANN)


def run_discord(conversation, scenario) -> None:
    with FakeDiscord() as fake:
        bot = DiscordBot(conversation, defer_after=None)

        async def main() -> None:
            async with connect(bot, fake):
                await scenario(fake, bot)

        asyncio.run(main())


async def followups(fake: FakeDiscord, payload: dict, count: int) -> list[dict]:
    return [c for c in await fake.wait("followup", count, interaction=payload)
            if not c["fault"]]


def text_of(call: dict) -> str:
    return call["json"].get("content") or call["json"]["embeds"][0]["title"]


def test_discord_imports_an_attachment_and_exports_files(conversation):
    async def scenario(fake, bot):
        [command] = [c for c in fake.commands() if c["name"] == "import"]
        assert command["options"][0]["type"] == 11  # an attachment option
        upload = fake.slash("import", {"file": {"filename": "ratings.csv",
                                                "data": exports.imdb_ratings()}},
                            user_id=ANN, user_name="ann")
        await dispatch(bot, upload)
        assert (await fake.response(upload))["type"] == 5  # "thinking…" while it imports
        report, picks = await followups(fake, upload, 2)
        assert text_of(report).startswith("📥 Your IMDb file: 9 titles.")
        assert "✅ Matched 7: 6 liked, 1 disliked." in text_of(report)
        assert text_of(picks) == "Picks for you:"

        zipped = fake.slash("import", {"file": {"filename": "letterboxd.zip",
                                                "data": exports.letterboxd_zip(),
                                                "content_type": "application/zip"}},
                            user_id=ANN, user_name="ann")
        await dispatch(bot, zipped)
        [report, _picks] = await followups(fake, zipped, 2)
        assert text_of(report).startswith("📥 Your Letterboxd file: 12 titles.")

        big = fake.slash("import", {"file": {"filename": "big.csv", "data": b"x",
                                             "size": MAX_BYTES + 1}}, user_id=ANN,
                         user_name="ann")
        await dispatch(bot, big)
        [refused] = await followups(fake, big, 1)
        assert "I take up to 5 MB" in text_of(refused)
        assert len(fake.downloads) == 2  # the big one was never fetched

        bare = fake.slash("import", None, user_id=ANN, user_name="ann")
        await dispatch(bot, bare)
        assert "Your Ratings page > Export" in (await fake.response(bare))["data"]["content"]

        export = fake.slash("export", None, user_id=ANN, user_name="ann")
        await dispatch(bot, export)
        await fake.response(export)
        [call] = [c for c in fake.calls("interaction_callback", interaction=export)
                  if not c["fault"]]
        files = {f["filename"]: f["data"] for f in call["files"]}
        assert sorted(files) == ["movie-bot-export.csv", "movie-bot-export.json"]

        back = fake.slash("import", {"file": {"filename": "movie-bot-export.csv",
                                              "data": files["movie-bot-export.csv"]}},
                          user_id=BOB, user_name="bob")
        await dispatch(bot, back)
        [report, _picks] = await followups(fake, back, 2)
        assert text_of(report).startswith("📥 Your bot export file:")

    run_discord(conversation, scenario)
    assert taste_of(conversation, "discord", BOB) == taste_of(conversation, "discord", ANN)


def test_the_console_imports_a_path_and_exports_to_the_working_directory(tmp_path):
    """`python -m bot` with piped input, as a user runs it: `/import PATH`, `/export`."""
    import subprocess
    import sys

    from tests.bot_model import bot_env

    env = bot_env(tmp_path)
    (tmp_path / "letterboxd-ann.zip").write_bytes(exports.letterboxd_zip())
    (tmp_path / "ratings.csv").write_bytes(exports.imdb_ratings())
    done = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True,
                          input="/import letterboxd-ann.zip\n/import ratings.csv\n/export\n",
                          env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "📥 Your Letterboxd file: 12 titles." in done.stdout
    assert "📥 Your IMDb file: 9 titles." in done.stdout
    written = tmp_path / "movie-bot-export.csv"
    assert f"Wrote {written}" in done.stdout
    assert f"Wrote {tmp_path / 'movie-bot-export.json'}" in done.stdout
    assert b",Item ID,Status\r\n" in written.read_bytes()
