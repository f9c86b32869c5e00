"""The console adapter: every command in a terminal, or scripted through stdin.

At a terminal it shows a prompt, streams answers as they arrive and asks for keys
with a hidden prompt. With stdin piped it reads one command per line, prints each
reply to stdout (progress goes to stderr), and reads the key for ``/byok add`` from
the line that follows. A line without a leading slash is a question (``/ask``).
``--file PATH`` attaches a file (a transcript for ``/summarize``).
"""

from __future__ import annotations

import asyncio
import getpass
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.dispatch import Dispatcher
from bot.invocation import Attachment, Invocation
from bot.reply import Delta, Reply, Status

__all__ = ["ConsoleAdapter"]

_QUIT = {"/quit", "/exit", "quit", "exit"}


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
        read_secret: Callable[[str], str] = getpass.getpass,
    ) -> None:
        self._dispatcher = dispatcher
        self._user = user
        self._in = stdin
        self._out = stdout
        self._err = stderr
        self._interactive = interactive
        self._read_secret = read_secret

    def _write(self, text: str, *, stream: TextIO | None = None) -> None:
        target = stream or self._out
        target.write(text)
        target.flush()

    async def _readline(self, prompt: str = "") -> str | None:
        if self._interactive and prompt:
            self._write(prompt)
        line = await asyncio.to_thread(self._in.readline)
        return None if line == "" else line.rstrip("\r\n")

    def _invocation(self, text: str, attachments: tuple[Attachment, ...]) -> Invocation:
        if not text.startswith("/"):
            text = "/ask " + text
        command, _, rest = text[1:].partition(" ")
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
        if self._interactive:
            self._write(
                "byok-bot console — /help for commands, /quit to leave. "
                "A line without a slash is a question.\n"
            )
        while True:
            line = await self._readline("you> ")
            if line is None:
                break
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.lower() in _QUIT:
                break
            try:
                text, attachments = _take_file(stripped)
            except FileNotFoundError as missing:
                self._write(f"No such file: {missing.args[0]}\n\n")
                continue
            await self.handle(self._invocation(text, attachments))
        return 0

    async def handle(self, inv: Invocation) -> None:
        streamed: list[str] = []
        async for event in self._dispatcher.run(inv):
            if isinstance(event, Delta):
                streamed.append(event.text)
                self._write(event.text)
            elif isinstance(event, Status):
                self._write(
                    f"… {event.text}\n", stream=self._out if self._interactive else self._err
                )
            else:
                await self._show(inv, event, "".join(streamed))
                streamed.clear()

    async def _show(self, inv: Invocation, reply: Reply, streamed: str) -> None:
        if reply.secret_request is not None:
            request = reply.secret_request
            if self._interactive:
                key = await asyncio.to_thread(
                    self._read_secret, f"{request.provider_id} API key (input hidden): "
                )
            else:
                key = await self._readline() or ""
            reply = await self._dispatcher.submit_key(inv, request, key)
        if streamed:
            rest = reply.plain_text(with_text=False)
            self._write(("" if streamed.endswith("\n") else "\n") + rest.lstrip("\n") + "\n\n")
            return
        prefix = {"error": "✗ ", "success": "✓ ", "warning": "! "}.get(reply.tone, "")
        self._write(prefix + reply.plain_text() + "\n\n")


def _take_file(line: str) -> tuple[str, tuple[Attachment, ...]]:
    """Pull ``--file PATH`` out of a line and read that file as an attachment."""
    try:
        words = shlex.split(line)
    except ValueError:
        return line, ()
    if "--file" not in words or words.index("--file") + 1 >= len(words):
        return line, ()
    at = words.index("--file")
    path = Path(words[at + 1]).expanduser()
    if not path.is_file():
        raise FileNotFoundError(words[at + 1])
    rest = " ".join(words[:at] + words[at + 2 :])
    return rest, (Attachment(path.name, path.read_bytes()),)
