"""The console adapter: every command in a terminal, or scripted through stdin.

At a terminal it shows a prompt with line editing, history kept across sessions and
Tab completion (see :mod:`adapters.console_prompt`), streams answers as they arrive and
asks for keys with a hidden prompt that nothing records. Ctrl-C cancels the answer or key
prompt in progress; at the prompt it clears what is typed, and on an empty prompt it
leaves. With stdin piped it reads one command per line, prints each reply to stdout
(progress goes to stderr), and reads the key for ``/byok add`` from the line that follows. A line without a leading slash is a question (``/ask``).
``/summarize --file PATH`` attaches a transcript; other commands keep ``--file`` as text.
Only a regular file is read, and no more of it than a transcript may be: a FIFO, a device
such as ``/dev/zero``, a folder or an unreadable path gets a one-line explanation, and the
console goes on.

Either way a line holding terminal control codes (an arrow key pressed where nothing
edits lines) is never sent: it is refused with a one-line hint.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal
import stat
import termios
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from adapters.control_codes import control_codes_refusal
from bot.bounds import MAX_IMAGE_FILE_BYTES
from bot.commands.table import FILE_COMMAND_WORDS
from bot.dispatch import Dispatcher
from bot.grammar import CommandError
from bot.invocation import Attachment, Invocation
from bot.reply import Delta, Part, Reply, Status
from bot.summaries.transcripts import max_transcript_bytes, too_large_message

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

__all__ = ["ConsoleAdapter"]

T = TypeVar("T")

_QUIT = {"/quit", "/exit", "quit", "exit"}
_FILE_USAGE = "/summarize --file meeting.vtt"
_IMAGE_USAGE = "/ask --image photo.png what is this?"
_IMAGE_FLAG = re.compile(r"(?:^|(?<=\s))--image\s+(\"[^\"]*\"|'[^']*'|(?!--)\S+)")
_READ_CHUNK = 1 << 16


class ConsoleAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        user: str,
        *,
        stdin: TextIO,
        stdout: TextIO,
        stderr: TextIO,
        interactive: bool,
    ) -> None:
        self._dispatcher = dispatcher
        self._user = user
        self._in = stdin
        self._out = stdout
        self._err = stderr
        self._interactive = interactive
        self._busy: asyncio.Task[Any] | None = None  # what Ctrl-C cancels
        self._editor: PromptSession[str] | None = None  # made at the first prompt

    def _write(self, text: str, *, stream: TextIO | None = None) -> None:
        target = stream or self._out
        target.write(text)
        target.flush()

    async def _readline(self, prompt: str = "") -> str | None:
        """The next line, None at the end of input (Ctrl-D at a terminal).

        At a terminal, Ctrl-C on an empty prompt raises KeyboardInterrupt: the console
        leaves as it always did (exit 130).
        """
        if self._interactive:
            try:
                return await self._line_editor().prompt_async(prompt, handle_sigint=False)
            except EOFError:  # prompt_toolkit has already ended the line
                return None
        line = await asyncio.to_thread(self._in.readline)
        return None if line == "" else line.rstrip("\r\n")

    def _line_editor(self) -> PromptSession[str]:
        if self._editor is None:
            from adapters.console_prompt import console_history, line_editor

            history, trouble = console_history(os.environ)
            if trouble:
                self._write(f"! {trouble}\n", stream=self._err)
            provider_ids = self._dispatcher.ctx.provider_ids
            self._editor = line_editor(self._in, self._out, history, provider_ids)
        return self._editor

    async def _read_hidden(self, prompt: str) -> str | None:
        """A line typed at the terminal without echo, None at Ctrl-D.

        Read through the event loop, not a thread, so that Ctrl-C can cancel it; never
        through the line editor, so that it never reaches the history.
        """
        fd = self._in.fileno()
        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        self._write(prompt)
        line = b""
        try:
            while not line.endswith(b"\n"):
                await _readable(fd)
                chunk = os.read(fd, 4096)  # a terminal returns at most one line per read
                if not chunk:
                    if not line:
                        return None
                    break
                line += chunk
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
            self._write("\n")  # the Enter was not echoed either
        return line.decode(errors="replace").rstrip("\r\n")

    def _invocation(self, line: str) -> Invocation:
        if not line.startswith("/"):
            line = "/ask " + line
        # A pasted transcript may put a newline, not a space, after the command.
        command, *rest_of_line = re.split(r"\s", line[1:], maxsplit=1)
        rest = rest_of_line[0] if rest_of_line else ""
        attachments: tuple[Attachment, ...] = ()
        if command.lower() in FILE_COMMAND_WORDS:
            limit = max_transcript_bytes(self._dispatcher.ctx.max_transcript_chars)
            rest, attachments = _take_file(rest, limit)
        elif command.lower() == "ask":
            rest, attachments = _take_images(rest)
        return Invocation(
            platform="console",
            workspace="local",
            user=self._user,
            channel="console",
            private=True,
            command=command,
            text=rest.strip(),
            attachments=attachments,
            thread="console",
            user_name=self._user,
        )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        # SIGTERM stops the console like a last Ctrl-C: the answer in progress is
        # cancelled (its usage row written as such) and the database closed, not cut off.
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
        if self._interactive:
            self._write(
                "byok-bot console — /help for commands, /quit to leave. "
                "A line without a slash is a question.\n"
            )
            loop.add_signal_handler(signal.SIGINT, self._interrupt, main)
        try:
            return await self._loop()
        except asyncio.CancelledError:
            if self._interactive:
                self._write("\n")
            raise KeyboardInterrupt from None  # leaves as Ctrl-C always did (exit 130)
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            if self._interactive:
                loop.remove_signal_handler(signal.SIGINT)

    def _interrupt(self, main: asyncio.Task[Any]) -> None:
        busy = self._busy
        if busy is not None and not busy.done() and not busy.cancelling():
            busy.cancel()
        else:  # at the prompt, or a second Ctrl-C while the first one is taking effect
            main.cancel()

    async def _loop(self) -> int:
        while True:
            line = await self._readline("you> ")
            if line is None:
                break
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.lower() in _QUIT:
                break
            refusal = control_codes_refusal(stripped)
            if refusal is not None:
                self._render(refusal)
                continue
            try:
                inv = self._invocation(stripped)
            except CommandError as error:
                text = self._dispatcher.ctx.hints.error_text(error)
                self._render(Reply(tone="error", text=text))
                continue
            await self._foreground(self.handle(inv))
        return 0

    async def _foreground(self, work: Coroutine[Any, Any, T]) -> T | None:
        """Run ``work`` so that Ctrl-C cancels it rather than the console; None if it did."""
        if not self._interactive:
            return await work
        outer = self._busy
        self._busy = task = asyncio.create_task(work)
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the console itself is being stopped
            return None
        finally:
            self._busy = outer

    async def handle(self, inv: Invocation) -> None:
        streamed: list[str] = []
        try:
            async for event in self._dispatcher.run(inv):
                if isinstance(event, Delta):
                    streamed.append(event.text)
                    self._write(event.text)
                elif isinstance(event, Status):
                    self._write(
                        f"… {event.text}\n", stream=self._out if self._interactive else self._err
                    )
                elif isinstance(event, Part):
                    self._part(event)
                else:
                    await self._show(inv, event, "".join(streamed))
                    streamed.clear()
        except asyncio.CancelledError:
            if self._interactive:
                open_line = bool(streamed) and not streamed[-1].endswith("\n")
                self._write(("\n" if open_line else "") + "(cancelled)\n\n")
            raise

    def _part(self, part: Part) -> None:
        """One answer of several side by side (``/ask --compare``): a labelled block,
        printed whole when that answer is done, so answers streaming at once do not
        interleave on the terminal."""
        if isinstance(part.event, Reply):
            self._write(f"── {part.title} ──\n")
            self._render(part.event)

    async def _show(self, inv: Invocation, reply: Reply, streamed: str) -> None:
        if reply.secret_request is not None:
            request = reply.secret_request
            key = await self._read_key(request.provider_id)
            if key is None:
                return
            reply = await self._dispatcher.submit_key(inv, request, key)
        self._render(reply, streamed)

    async def _read_key(self, provider_id: str) -> str | None:
        """The key for ``/byok add``, or None (said to the user) if none came."""
        if not self._interactive:
            key = await self._readline()
            if key is None:
                self._render(
                    Reply(
                        tone="error",
                        text=f"No key followed `/byok add {provider_id}`: put the key on the "
                        "next line. Nothing was stored.",
                    )
                )
            return key
        name = self._dispatcher.ctx.provider_names.label(provider_id)
        prompt = f"{name} API key (input hidden): "
        key = await self._foreground(self._read_hidden(prompt))
        if key is None:  # Ctrl-D or Ctrl-C
            self._write("Cancelled; nothing was stored.\n\n")
        return key

    def _render(self, reply: Reply, streamed: str = "") -> None:
        if streamed:
            rest = reply.plain_text(with_text=False)
            self._write(("" if streamed.endswith("\n") else "\n") + rest.lstrip("\n") + "\n\n")
            return
        prefix = {"error": "✗ ", "success": "✓ ", "warning": "! "}.get(reply.tone, "")
        self._write(prefix + reply.plain_text() + "\n\n")


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _take_file(text: str, limit: int) -> tuple[str, tuple[Attachment, ...]]:
    """Pull ``--file PATH`` out of /summarize's text and read that file as an attachment."""
    try:
        words = shlex.split(text)
    except ValueError:
        return text, ()
    if "--file" not in words:
        return text, ()
    at = words.index("--file")
    if at + 1 >= len(words) or words[at + 1].startswith("--"):
        raise CommandError(f"`--file` needs a path: {_FILE_USAGE}")
    attachment = _read_file(words[at + 1], limit)
    return " ".join(words[:at] + words[at + 2 :]), (attachment,)


def _take_images(text: str) -> tuple[str, tuple[Attachment, ...]]:
    """Pull every ``--image PATH`` (a path may be quoted) out of /ask's text and read each
    file, no larger than :data:`~bot.bounds.MAX_IMAGE_FILE_BYTES` (bounded as
    :func:`_read_file` bounds any file); the rest of the text is left as typed (an
    apostrophe in the question is no quoting). Whether each is an image is /ask's to
    judge, from its bytes."""
    images: list[Attachment] = []

    def take(match: re.Match[str]) -> str:
        path = match.group(1)
        if path[:1] in "\"'" and path[-1:] == path[:1] and len(path) > 1:
            path = path[1:-1]
        images.append(_read_file(path, MAX_IMAGE_FILE_BYTES))
        return " "

    rest = _IMAGE_FLAG.sub(take, text)
    if re.search(r"(^|\s)--image(\s*$|\s+--)", rest):
        raise CommandError(f"`--image` needs a path: {_IMAGE_USAGE}")
    return " ".join(rest.split()) if images else text, tuple(images)


def _read_file(name: str, limit: int) -> Attachment:
    """The file at ``name`` if it is a regular file of at most ``limit`` bytes.

    Opened without blocking (a FIFO with no writer would hang the console), checked on the
    open descriptor (no race with a rename), and read no further than ``limit + 1`` bytes
    (a file that grows meanwhile is still refused, not read to its end).
    """
    try:
        path = Path(name).expanduser()
    except RuntimeError:  # ~nosuchuser
        raise CommandError(f"Could not read {name}: no such user's home folder") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise CommandError(f"No such file: {name}") from None
    except OSError as exc:  # a socket cannot be opened at all: say what it is
        raise _not_a_file(name, _kind_at(path)) or CommandError(
            f"Could not read {name}: {_reason(exc)}"
        ) from None
    except ValueError as exc:  # a NUL byte in the path
        raise CommandError(f"Could not read {name}: {_reason(exc)}") from None
    try:
        status = os.fstat(fd)
        refusal = _not_a_file(name, _file_kind(status.st_mode))
        if refusal is not None:
            raise refusal
        data = b"" if status.st_size > limit else _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise CommandError(f"Could not read {name}: {_reason(exc)}") from None
    finally:
        os.close(fd)
    if status.st_size > limit or len(data) > limit:
        raise CommandError(too_large_message(path.name, limit))
    return Attachment(path.name, data)


def _not_a_file(name: str, kind: str | None) -> CommandError | None:
    if kind == "folder":
        return CommandError(f"{name} is a folder, not a file")
    if kind is not None:
        return CommandError(
            f"{name} is {kind}, not a regular file: save the transcript to a file first"
        )
    return None


def _kind_at(path: Path) -> str | None:
    try:
        return _file_kind(path.stat().st_mode)
    except OSError:
        return None


def _file_kind(mode: int) -> str | None:
    """None for a regular file, else what it is, for the user."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def _read_at_most(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < most:
        chunk = os.read(fd, min(_READ_CHUNK, most - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(exc: OSError | ValueError) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return "the path is not valid"
