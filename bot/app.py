"""Wiring in one place: settings (:class:`bot.settings.BotSettings`), model, database,
title index, the retraining service and the model watcher, then the chats: Telegram
and/or Discord when their tokens are set (both at once if both are), else the console.

``python -m bot --health`` is the container health check: it succeeds while a
running bot keeps beating its heartbeat file. ``python -m bot --web`` serves the web app
(``bot/web.py``) with Streamlit instead of the chats.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path

import uvloop

from bot.core import Conversation
from bot.formats import UPLOAD_MB
from bot.settings import BotSettings, ChatSettings, WebSettings
from bot.watch import ModelWatcher
from jobs.settings import JobSettings
from recommender.artifacts import current_dir, versions
from recommender.errors import ModelError, RecommenderError
from recommender.serve import Recommender
from recommender.settings import Settings
from storage import Storage, StorageError

log = logging.getLogger(__name__)

HEARTBEAT = "bot.heartbeat"
HEARTBEAT_MAX_AGE = 60  # seconds; the scheduler beats every few


def load_model(models_dir: Path) -> Recommender:
    """The current model; if it is broken, the newest sound one (and say so)."""
    found = current_dir(models_dir)
    if found is None:
        raise ModelError(f"No model in {models_dir}; run 'make run' or "
                         "'python -m jobs train' first.")
    try:
        return Recommender.load(found)
    except ModelError as broken:
        for version in reversed(versions(models_dir)):
            if version != found.name:
                try:
                    model = Recommender.load(models_dir / version)
                except ModelError:
                    continue
                log.error("%s; serving %s instead", broken, version)
                return model
        raise


def build(settings: BotSettings) -> Conversation:
    """The conversation core over the current model and the bot's database."""
    paths = settings.recommender
    return Conversation(load_model(paths.models_dir), Storage(paths.db_path),
                        admin_ids=settings.chat.admin_ids)


def start_jobs(conversation: Conversation, settings: JobSettings):
    """Start nightly retraining and the model watcher for this bot (the recommender's and
    retraining's parts of its settings, :attr:`BotSettings.jobs`); return the service."""
    from jobs.service import RetrainService

    paths = settings.recommender
    watcher = ModelWatcher(conversation, paths.models_dir)
    heartbeat = paths.data_dir / HEARTBEAT

    def watch() -> None:
        watcher.check()
        heartbeat.parent.mkdir(parents=True, exist_ok=True)
        heartbeat.write_text(f"{time.time():.0f}\n")

    service = RetrainService(settings, tell=conversation.tell, watch=watch)
    conversation.jobs = service
    watch()
    service.start()
    return service


def healthy(settings: Settings, now: float | None = None) -> bool:
    """Whether a bot beat its heartbeat (in the recommender settings' data folder)
    within the last minute."""
    try:
        age = (now or time.time()) - (settings.data_dir / HEARTBEAT).stat().st_mtime
    except OSError:
        return False
    return age <= HEARTBEAT_MAX_AGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--health", action="store_true",
                        help="exit 0 if a running bot is alive (for health checks)")
    parser.add_argument("--web", action="store_true",
                        help="serve the web app on WEB_ADDRESS:WEB_PORT (127.0.0.1:8501)")
    args = parser.parse_args(argv)
    if args.health:
        return 0 if healthy(BotSettings.from_env().recommender) else 1
    if args.web:
        return serve_web()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        settings = BotSettings.from_env()
        conversation = build(settings)
        service = start_jobs(conversation, settings.jobs)
    except (RecommenderError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if settings.chat.platforms != ["console"]:
            # uvloop: the same asyncio, a faster loop (less CPU per message, bench.chat).
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(serve_chats(conversation, settings.chat))
        logging.getLogger().setLevel(logging.WARNING)  # the console is the chat itself
        from bot.console import USER, run

        conversation.admin_ids.add(USER.platform_user_id)  # whoever sits at the terminal
        run(conversation)
        if service.training_here():
            # Piped input ended during a /retrain: let it finish and report, not orphan it.
            print("Waiting for the retraining to finish (Ctrl-C leaves it running) ...")
            service.wait()
        return 0
    finally:
        service.stop()


def serve_web(web: WebSettings | None = None) -> int:
    """Become the Streamlit server of the web app (never returns unless settings are bad)."""
    try:
        web = web or WebSettings.from_env()
    except RecommenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.execv(sys.executable, web_command(web))
    return 0  # pragma: no cover (execv does not return)


def web_command(web: WebSettings) -> list[str]:
    """The Streamlit command line of the web app: headless, no file watching (a server,
    not a development session), no usage statistics sent anywhere."""
    return [sys.executable, "-m", "streamlit", "run", str(Path(__file__).with_name("web.py")),
            "--server.address", web.address, "--server.port", str(web.port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
            # The server refuses bigger uploads itself, not only the upload box.
            "--server.maxUploadSize", str(UPLOAD_MB)]


async def serve_chats(conversation: Conversation, chat: ChatSettings) -> int:
    """Telegram and/or Discord, whichever has a token, in one event loop until a signal."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    platforms = []
    if "telegram" in chat.platforms:
        from bot.telegram import serve_telegram

        platforms.append(("Telegram", serve_telegram(conversation, chat.telegram_token,
                                                     chat.telegram_api_base_url, stop)))
    if "discord" in chat.platforms:
        from bot.discord import serve_discord

        platforms.append(("Discord", serve_discord(conversation, chat.discord_token, stop)))
    # A platform that fails for good (a refused token, no network at start) is reported,
    # and the others keep answering: one outage must not silence the bot everywhere.
    secrets = [t for t in (chat.telegram_token, chat.discord_token) if t]
    results = await asyncio.gather(*(_reported(name, p, secrets) for name, p in platforms))
    return 0 if all(results) else 2


async def _reported(name: str, platform: Awaitable[None], secrets: list[str]) -> bool:
    try:
        await platform
        return True
    except Exception as exc:
        why = platform_error(exc)
        for secret in secrets:
            why = why.replace(secret, "***")
        log.error("%s stopped: %s", name, type(exc).__name__)
        print(f"error: {name}: {why}", file=sys.stderr, flush=True)
        return False


def platform_error(exc: BaseException) -> str:
    """One line a user can act on, never containing the token."""
    name = type(exc).__name__
    if name in ("InvalidToken", "LoginFailure"):
        which = "Telegram" if name == "InvalidToken" else "Discord"
        var = "TELEGRAM_TOKEN" if name == "InvalidToken" else "DISCORD_TOKEN"
        return f"{which} refused the bot token; check {var}."
    if name == "PrivilegedIntentsRequired":
        return "Discord needs an intent this bot did not enable in the developer portal."
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"the chat connection failed: {name}" + (f" ({detail})" if detail else "")
