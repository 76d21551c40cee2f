"""Wiring in one place: settings, model, database and title index, then an adapter."""

from __future__ import annotations

import logging
import sys

from bot.core import Conversation
from recommender.artifacts import current_dir
from recommender.errors import ModelError, RecommenderError
from recommender.serve import Recommender
from recommender.settings import Settings
from storage import Storage, StorageError


def build(settings: Settings) -> Conversation:
    """The conversation core over the current model and the bot's database."""
    found = current_dir(settings.models_dir)
    if found is None:
        raise ModelError(f"No model in {settings.models_dir}; run 'make run' or "
                         "'python -m recommender train' first.")
    recommender = Recommender.load(found)
    return Conversation(recommender, Storage(settings.db_path), admin_ids=settings.admin_ids)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and Telegram's URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        conversation = build(settings)
    except (RecommenderError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.telegram_token:
        from bot.telegram import run_telegram

        run_telegram(conversation, settings.telegram_token, settings.telegram_api_base_url)
        return 0
    logging.getLogger().setLevel(logging.WARNING)  # the console is the chat itself
    from bot.console import USER, run

    conversation.admin_ids.add(USER.platform_user_id)  # whoever sits at the terminal owns it
    run(conversation)
    return 0
