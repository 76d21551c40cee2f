"""Telegram adapter (python-telegram-bot 22): commands, inline buttons, paging in place.

Every reply is HTML with all user- and data-supplied text escaped; long replies are
split at 4096 characters; the core runs in a worker thread so one user's request
never blocks the event loop for the others. In groups, only commands addressed to
the bot are answered, and each member keeps their own taste.
"""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.core import Conversation, UserRef
from bot.replies import Reply, split_message

log = logging.getLogger(__name__)
LIMIT = 4096
OFFICIAL_API = "https://api.telegram.org"


def user_of(update: Update) -> UserRef:
    who = update.effective_user
    chat = update.effective_chat
    room = f"telegram:{chat.id}" if chat is not None and chat.type != "private" else None
    return UserRef("telegram", str(who.id), who.first_name if who else None, room)


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data)
                                  for b in row] for row in reply.buttons])


def chunks(text: str, limit: int = LIMIT) -> list[str]:
    """HTML-escaped text in parts that each fit one message (no entity cut in two)."""
    return split_message(html.escape(text, quote=False), limit, unsafe="&")


async def send(message: Message, reply: Reply) -> None:
    parts = chunks(reply.text)
    for i, part in enumerate(parts):
        markup = keyboard(reply) if i == len(parts) - 1 else None
        await message.reply_text(part, parse_mode=ParseMode.HTML, reply_markup=markup,
                                 do_quote=False)


class TelegramBot:
    """Handlers named after what the user does; wiring in :func:`build_application`."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    async def on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command, or (in private chats) free text: both go to the core as typed."""
        message = update.effective_message
        try:
            await message.chat.send_action(ChatAction.TYPING)
        except TelegramError as exc:  # only a courtesy: the reply matters, not the dots
            log.warning("typing indicator failed: %s", type(exc).__name__)
        replies = await asyncio.to_thread(self.conversation.handle_text, user_of(update),
                                          message.text or "")
        for reply in replies:
            await send(message, reply)

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        for reply in self.conversation.handle_other(user_of(update)):
            await send(update.effective_message, reply)

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        replies = await asyncio.to_thread(self.conversation.handle_button, user_of(update),
                                          query.data or "")
        await query.answer(next((r.notice for r in replies if r.notice), None))
        for reply in replies:
            if reply.edit and query.message is not None:
                try:
                    await query.edit_message_text(chunks(reply.text)[0],
                                                  parse_mode=ParseMode.HTML,
                                                  reply_markup=keyboard(reply))
                except BadRequest as exc:  # "message is not modified": same page again
                    if "not modified" not in str(exc).lower():
                        raise
            elif query.message is not None:
                await send(query.message, reply)

    async def on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("update failed: %s", type(context.error).__name__, exc_info=context.error)


async def register_commands(app: Application, conversation: Conversation) -> None:
    """The command menu: every command everyone may use, from the registry."""
    await app.bot.set_my_commands([BotCommand(name, text[:256])
                                   for name, text in conversation.commands.menu()])


def connect_outbox(app: Application, conversation: Conversation) -> None:
    """Let the core message Telegram users unprompted (retraining progress, alerts).

    The core calls from other threads; the message is sent on the bot's event loop.
    """
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    async def deliver(chat_id: int, text: str) -> None:
        for part in chunks(text):
            await app.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)

    def send(user_id: str, text: str) -> None:
        coro = deliver(int(user_id), text)
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            task = loop.create_task(coro)
            pending.add(task)
            task.add_done_callback(pending.discard)
        else:
            asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    conversation.add_outbox("telegram", send)


def build_application(conversation: Conversation, token: str,
                      api_base_url: str | None = None,
                      request: BaseRequest | None = None) -> Application:
    """The bot's Application; ``request`` replaces the HTTP layer (tests)."""
    base = (api_base_url or OFFICIAL_API).rstrip("/")

    async def post_init(app: Application) -> None:
        await register_commands(app, conversation)
        connect_outbox(app, conversation)

    builder = (Application.builder().token(token).base_url(f"{base}/bot")
               .base_file_url(f"{base}/file/bot").post_init(post_init)
               .concurrent_updates(True))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    app = builder.build()
    bot = TelegramBot(conversation)
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler([c.name for c in conversation.commands], bot.on_message))
    app.add_handler(MessageHandler(filters.COMMAND & private, bot.on_message))  # unknown ones
    app.add_handler(CallbackQueryHandler(bot.on_button))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & private, bot.on_message))
    app.add_handler(MessageHandler(~filters.TEXT & ~filters.StatusUpdate.ALL & private,
                                   bot.on_other))
    app.add_error_handler(bot.on_error)
    return app


async def serve_telegram(conversation: Conversation, token: str, api_base_url: str | None,
                         stop: asyncio.Event) -> None:
    """Poll Telegram until ``stop`` is set; shares the event loop with other platforms."""
    app = build_application(conversation, token, api_base_url)
    log.info("starting the Telegram bot")
    async with app:
        await app.post_init(app)  # run_polling would; this manual start does not
        await app.start()
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        try:
            await stop.wait()
        finally:
            await app.updater.stop()
            await app.stop()

