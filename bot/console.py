"""Console chat: the bot in a terminal, no token needed.

Buttons become numbered choices; typing the number presses the button. In a terminal,
Tab completes command names from the registry. Works with piped input too: each line
is a message, and the chat ends cleanly at end of input. ``/import PATH`` reads the file
(the core gets its bytes, as from any platform) and files the bot sends (``/export``) are
written to the working directory, their paths printed.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TextIO

from bot.core import Conversation, UserRef
from bot.formats import MAX_BYTES
from bot.replies import Button, Reply

USER = UserRef("console", "local", "friend")


def render(reply: Reply, out: TextIO, folder: Path | None = None) -> list[Button]:
    """Print a reply (its files written to ``folder``, default the working directory);
    return its buttons in the order they were numbered."""
    out.write(reply.text + "\n")
    for file in reply.files:
        path = (folder or Path.cwd()) / Path(file.name).name  # never outside the folder
        try:
            path.write_bytes(file.data)
            out.write(f"Wrote {path.resolve()}\n")
        except OSError as exc:
            out.write(f"Could not write {path}: {exc.strerror or exc}\n")
    numbered: list[Button] = []
    for row in reply.buttons:  # one line per row of buttons, as a chat app shows them
        cells = []
        for button in row:
            numbered.append(button)
            cells.append(f"[{len(numbered)}] {button.label}")
        out.write("  " + "   ".join(cells) + "\n")
    if numbered:
        out.write("  (type a number to choose)\n")
    return numbered


def complete_commands(conversation: Conversation) -> None:
    """Tab completion of "/" commands (and only commands) where readline exists."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline
        return
    names = [f"/{c.name} " for c in conversation.commands]

    def complete(text: str, state: int) -> str | None:
        hits = [n for n in names if n.startswith(text)] if text.startswith("/") else []
        return hits[state] if state < len(hits) else None

    readline.set_completer(complete)
    readline.set_completer_delims(" ")
    readline.parse_and_bind("tab: complete")


def read_line(stdin: TextIO, stdout: TextIO, interactive: bool) -> str:
    """The next line typed, "" at the end of input; in a terminal through readline."""
    if not interactive:
        return stdin.readline()
    if stdin is sys.stdin and stdout is sys.stdout:
        try:
            return input("> ") + "\n"
        except EOFError:
            return ""
    stdout.write("> ")
    stdout.flush()
    return stdin.readline()


def upload(conversation: Conversation, user: UserRef, text: str) -> list[Reply] | None:
    """``/import PATH``: the file's bytes to the core; None for anything else."""
    name, _, rest = text.partition(" ")
    if name.split("@", 1)[0].lower() != "/import" or not rest.strip():
        return None
    path = Path(rest.strip().strip("'\"")).expanduser()
    if path.is_dir():
        return [Reply(f"{path} is a folder. Give the Letterboxd zip, or one of its CSVs.")]
    try:
        size = path.stat().st_size
        data = b"" if size > MAX_BYTES else path.read_bytes()  # the core states the limit
    except OSError as exc:
        return [Reply(f"I can't read {path}: {exc.strerror or exc}.")]
    return conversation.handle_upload(user, data, path.name, size=size)


def run(conversation: Conversation, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
        user: UserRef = USER, folder: Path | None = None) -> None:
    """Chat until the end of input; files the bot sends are written to ``folder``
    (default: the working directory)."""
    interactive = stdin.isatty()
    if interactive:
        complete_commands(conversation)
    lock = threading.Lock()

    def tell(_user_id: str, text: str) -> None:  # retraining progress, from another thread
        with lock:
            stdout.write(f"\n{text}\n" if interactive else f"{text}\n")  # past the prompt
            stdout.flush()

    conversation.add_outbox(user.platform, tell)
    stdout.write("Movie bot. Type /help for commands, /start to begin, Ctrl-D to quit.\n")
    buttons: list[Button] = []
    while True:
        line = read_line(stdin, stdout, interactive)
        if not line:
            break
        text = line.strip()
        if not interactive and text:
            stdout.write(f"> {text}\n")
        if text.isdecimal() and buttons and 1 <= int(text) <= len(buttons):
            replies = conversation.handle_button(user, buttons[int(text) - 1].data)
        elif text.isdecimal() and buttons:
            replies = [Reply(f"Choose a number from 1 to {len(buttons)}.")]
        else:
            replies = upload(conversation, user, text) or conversation.handle_text(user, text)
        new_buttons: list[Button] = []
        with lock:
            for reply in replies:
                if reply.notice and not reply.text:
                    stdout.write(reply.notice + "\n")
                new_buttons = render(reply, stdout, folder) or new_buttons
            stdout.flush()
        buttons = new_buttons or buttons
    stdout.write("Bye!\n")
