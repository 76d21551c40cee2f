"""Telegram adapter (python-telegram-bot 22): commands, inline buttons, paging in place.

Every reply is HTML with all user- and data-supplied text escaped; long replies are
split at 4096 characters; the core runs in a worker thread so one user's request
never blocks the event loop for the others. In groups, only commands addressed to
the bot are answered, and each member keeps their own taste.

Inline mode: "@bot alien" in any chat offers matching titles as cards to share
(:mod:`bot.inline`), each with a button linking back to the bot ("/start t<item id>"),
which opens the bot on that title.

Telegram's network is not reliable, so every call the bot makes is throttled to
Telegram's limits and retried after a 429 as long as Telegram asks (``AIORateLimiter``),
and retried with backoff after a network error, a timeout or a 5xx (:func:`transient`).
"Typing…" is shown only when an answer takes a while, and never costs a reply. A reply
that still fails is one log line, without a traceback.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import (
    BotCommand,
    CallbackQuery,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.backoff import Backoff
from bot.core import Conversation, UserRef
from bot.formats import MAX_BYTES
from bot.inline import payload_of, shareable
from bot.replies import Card, Reply, split_message
from bot.telegram_transport import AiohttpRequest

log = logging.getLogger(__name__)
LIMIT = 4096
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)  # ten IMDb links, not one big preview
OFFICIAL_API = "https://api.telegram.org"
RETRY_AFTER_TRIES = 10  # 429s in a row one call may wait out, each as long as Telegram asks
TELEGRAM_BACKOFF = Backoff()  # 0.5, 1, 2, 4 s: five attempts
TYPING_AFTER = 0.5  # seconds of work after which "typing…" is shown
# Seconds Telegram may reuse an inline answer: titles change nightly, but an empty query
# shows the user's latest picks.
INLINE_CACHE = 10
NOTHING_FOUND = InlineQueryResultsButton("No title matches: open the bot",
                                         start_parameter="inline")  # /start inline: the welcome
T = TypeVar("T")


class WithoutTraceback(logging.Filter):
    """Keeps a record's message and drops its traceback: PTB's rate limiter logs one when a
    429 outlasts its retries, and our own line about the lost reply already says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("telegram.ext.AIORateLimiter").addFilter(WithoutTraceback())


def transient(exc: Exception) -> bool:
    """Worth another try: a network error, a timeout, a 5xx. A 400 (our mistake) is not,
    and a 429 is the rate limiter's to wait out."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


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


def html_of(reply: Reply) -> str:
    """A reply as Telegram HTML: every text escaped, each card's heading a link to the
    title's IMDb page where known."""
    def escaped(text: str) -> str:
        return html.escape(text, quote=False)

    lines = [escaped(reply.intro)] if reply.intro else []
    for card in reply.cards:
        heading = escaped(card.heading)
        lines.append(f'<a href="{html.escape(card.link)}">{heading}</a>' if card.link
                     else heading)
        if card.detail:
            lines.append(f"   {escaped(card.detail)}")
    if reply.outro:
        lines.append(escaped(reply.outro))
    return "\n".join(lines)


def deep_link(bot_username: str, item_id: int) -> str:
    """The link that opens a private chat with the bot on ``item_id`` ("/start t<id>")."""
    return f"https://t.me/{bot_username}?start={payload_of(item_id)}"


def article(card: Card, bot_username: str) -> InlineQueryResultArticle:
    """One inline result: the card as the message it sends, with a button back to the bot."""
    back = InlineKeyboardButton(f"Open in @{bot_username}",
                                url=deep_link(bot_username, card.item_id))
    return InlineQueryResultArticle(
        id=str(card.item_id), title=card.heading, description=card.detail or None,
        url=card.link, reply_markup=InlineKeyboardMarkup([[back]]),
        input_message_content=InputTextMessageContent(
            html_of(Reply(cards=[card])), parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW))


def reply_chunks(reply: Reply, limit: int = LIMIT) -> list[str]:
    """:func:`html_of` in parts that each fit one message."""
    return split_message(html_of(reply), limit, unsafe="&<")


class TelegramBot:
    """Handlers named after what the user does; wiring in :func:`build_application`."""

    def __init__(self, conversation: Conversation, backoff: Backoff = TELEGRAM_BACKOFF) -> None:
        self.conversation = conversation
        self.backoff = backoff

    async def on_message(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command, or (in private chats) free text: both go to the core as typed."""
        await self._answer(update, self.conversation.handle_text,
                           update.effective_message.text or "")

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start, or a deep link's "/start t<item id>": the title a shared card names."""
        if not context.args:
            await self.on_message(update, context)
            return
        await self._answer(update, self.conversation.handle_start, context.args[0])

    async def on_inline(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """"@bot alien" in any chat: matching titles as cards to share."""
        query = update.inline_query
        cards = await asyncio.to_thread(shareable, self.conversation, user_of(update),
                                        query.query)
        results = [article(card, context.bot.username) for card in cards]
        # Only an empty query's answer (the user's own picks) differs from user to user.
        await self._deliver(update, [lambda: self.backoff.run(lambda: query.answer(
            results, cache_time=INLINE_CACHE, is_personal=not query.query.strip(),
            button=None if results else NOTHING_FOUND), transient)])

    async def _answer(self, update: Update, handle: Callable[[UserRef, str], list[Reply]],
                      text: str) -> None:
        """``handle(user, text)`` in a worker thread, its replies sent in order."""
        message = update.effective_message
        work = asyncio.ensure_future(asyncio.to_thread(handle, user_of(update), text))
        replies = await self._typing_while(message, work)
        await self._deliver(update, [lambda r=r: self.send(message, r) for r in replies])

    async def on_document(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file: an /import. Its bytes go to the core (not fetched when over the limit)."""
        message = update.effective_message
        document = message.document
        size = document.file_size
        try:
            data = b"" if size is not None and size > MAX_BYTES else await self.backoff.run(
                lambda: self._download(document), transient)
        except TelegramError as exc:
            log.warning("download for update %s failed: %s", update.update_id,
                        describe_error(exc))
            replies = [Reply("I couldn't fetch that file from Telegram. Please send it again.")]
        else:
            work = asyncio.ensure_future(asyncio.to_thread(
                self.conversation.handle_upload, user_of(update), data,
                document.file_name or "upload", size=size))
            replies = await self._typing_while(message, work)
        await self._deliver(update, [lambda r=r: self.send(message, r) for r in replies])

    @staticmethod
    async def _download(document: Document) -> bytes:
        file = await document.get_file()
        return bytes(await file.download_as_bytearray())

    async def on_other(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        replies = self.conversation.handle_other(user_of(update))
        await self._deliver(update, [lambda r=r: self.send(message, r) for r in replies])

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        replies = await asyncio.to_thread(self.conversation.handle_button, user_of(update),
                                          query.data or "")
        notice = next((r.notice for r in replies if r.notice), None)
        steps = [lambda: self.backoff.run(lambda: query.answer(notice), transient)]
        if query.message is not None:
            steps += [lambda r=r: self.show(query, r) for r in replies]
        await self._deliver(update, steps)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(context.error, TelegramError):  # the network, not a bug: one line
            log.warning("update %s failed: %s", getattr(update, "update_id", "?"),
                        describe_error(context.error))
        else:
            log.error("update failed: %s", type(context.error).__name__,
                      exc_info=context.error)

    async def send(self, message: Message, reply: Reply) -> None:
        parts = reply_chunks(reply)
        for i, part in enumerate(parts):
            markup = keyboard(reply) if i == len(parts) - 1 else None
            await self.backoff.run(lambda part=part, markup=markup: message.reply_text(
                part, parse_mode=ParseMode.HTML, reply_markup=markup, do_quote=False,
                link_preview_options=NO_PREVIEW), transient)
        for file in reply.files:
            await self.backoff.run(lambda file=file: message.reply_document(
                file.data, filename=file.name, do_quote=False), transient)

    async def show(self, query: CallbackQuery, reply: Reply) -> None:
        """A button's reply: the page it was on edited in place, or a new message."""
        if not reply.edit:
            await self.send(query.message, reply)
            return
        try:
            await self.backoff.run(lambda: query.edit_message_text(
                reply_chunks(reply)[0], parse_mode=ParseMode.HTML, reply_markup=keyboard(reply),
                link_preview_options=NO_PREVIEW), transient)
        except BadRequest as exc:  # "message is not modified": same page again
            if "not modified" not in str(exc).lower():
                raise

    async def _typing_while(self, message: Message, work: asyncio.Future[T]) -> T:
        """``work``'s result; "typing…" is sent if it takes longer than TYPING_AFTER."""
        done, _ = await asyncio.wait({work}, timeout=TYPING_AFTER)
        if not done:
            try:
                await message.chat.send_action(ChatAction.TYPING)
            except TelegramError as exc:  # only a courtesy: the reply matters, not the dots
                log.info("typing indicator failed: %s", describe_error(exc))
        return await work

    async def _deliver(self, update: Update, steps: list[Callable[[], Awaitable[object]]]
                       ) -> None:
        """Run the sends of one update in order; a send that fails for good (retries are
        done by then) ends them with one log line."""
        try:
            for step in steps:
                await step()
        except TelegramError as exc:
            log.warning("reply to update %s lost: %s", update.update_id, describe_error(exc))


def describe_error(exc: TelegramError) -> str:
    """One line for the log: the error's kind and Telegram's words (never the token)."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


async def register_commands(app: Application, conversation: Conversation) -> None:
    """The command menu: every command everyone may use, from the registry."""
    await app.bot.set_my_commands([BotCommand(name, text[:256])
                                   for name, text in conversation.commands.menu()])


def connect_outbox(app: Application, conversation: Conversation,
                   backoff: Backoff = TELEGRAM_BACKOFF) -> None:
    """Let the core message Telegram users unprompted (retraining progress, alerts).

    The core calls from other threads; the message is sent on the bot's event loop.
    """
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    async def deliver(chat_id: int, text: str) -> None:
        for part in chunks(text):
            await backoff.run(lambda part=part: app.bot.send_message(
                chat_id, part, parse_mode=ParseMode.HTML), transient)

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
                      api_base_url: str | None = None, request: BaseRequest | None = None,
                      backoff: Backoff = TELEGRAM_BACKOFF) -> Application:
    """The bot's Application, on the aiohttp transport; ``request`` replaces it (tests)."""
    base = (api_base_url or OFFICIAL_API).rstrip("/")
    bot = TelegramBot(conversation, backoff)

    async def post_init(app: Application) -> None:
        await backoff.run(lambda: register_commands(app, conversation), transient)
        connect_outbox(app, conversation, backoff)

    builder = (Application.builder().token(token).base_url(f"{base}/bot")
               .base_file_url(f"{base}/file/bot").post_init(post_init)
               .concurrent_updates(True)
               .rate_limiter(AIORateLimiter(max_retries=RETRY_AFTER_TRIES)))
    # PTB's defaults: many connections for replies, one for the long poll.
    builder = builder.request(request or AiohttpRequest(connection_pool_size=256)) \
        .get_updates_request(request or AiohttpRequest(connection_pool_size=1))
    app = builder.build()
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", bot.on_start))  # before the others: deep links
    app.add_handler(CommandHandler([c.name for c in conversation.commands], bot.on_message))
    app.add_handler(MessageHandler(filters.COMMAND & private, bot.on_message))  # unknown ones
    app.add_handler(CallbackQueryHandler(bot.on_button))
    app.add_handler(InlineQueryHandler(bot.on_inline))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & private, bot.on_message))
    app.add_handler(MessageHandler(filters.Document.ALL & private, bot.on_document))
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

