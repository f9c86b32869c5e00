"""The real ``byok-bot run`` process, its configuration, and what a test does with it.

A test writes a config file pointing at loopback fakes (Slack, Discord, the LLM
providers) running in the test's own event loop, starts ``python -m adapters.cli
--config PATH run`` as a subprocess, and reads its output line by line. Nothing sleeps
to synchronise: a test waits for a log line or polls an HTTP endpoint, always within a
bound. The bound HTTP port (``[http] port = 0``) is read from the process's log line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from slack_sdk.signature import SignatureVerifier

__all__ = [
    "ROOT",
    "WAIT",
    "BotProcess",
    "Metrics",
    "SlackSender",
    "clean_env",
    "idle",
    "poll",
    "scrape",
    "toml",
]

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # seconds: a bound on any wait for the process, never a pause
_PORT = re.compile(r"HTTP server listening on http://[^:\s]+:(\d+)")


def toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """A TOML document from ``{"table": {"key": value}}`` (tables may be dotted)."""
    lines: list[str] = []
    for table, values in sections.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            lines.append(f"{key} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any byok-bot settings, plus ``extra``."""
    prefixes = ("BYOK_", "SLACK_", "DISCORD_")
    provider_keys = {
        "DATABASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GOOGLE_API_KEY",
        "XAI_API_KEY",
        "OPENROUTER_API_KEY",
    }
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in provider_keys
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


async def poll(check: Callable[[], Any], what: str, within: float = WAIT) -> Any:
    """Call ``check`` (sync or async) until it returns something truthy; bounded."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)  # a bounded poll, not a synchronising pause


@dataclass
class BotProcess:
    """One ``byok-bot`` process; its merged stdout and stderr, line by line."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    port: int | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, config: Path, env: Mapping[str, str], *args: str) -> BotProcess:
        """``byok-bot --config CONFIG run`` (or ``args`` instead of ``run``), in its folder."""
        argv = [sys.executable, "-m", "adapters.cli", "--config", str(config), *(args or ["run"])]
        return await cls.spawn(argv, config.parent, env)

    @classmethod
    async def spawn(cls, argv: list[str], cwd: Path, env: Mapping[str, str]) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = cls(process)
        bot._reader = asyncio.create_task(bot._read())
        return bot

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            raw = await self.process.stdout.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\n")
            found = _PORT.search(line)
            if found and self.port is None:
                self.port = int(found.group(1))
            async with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        assert self.port is not None, "the HTTP server has not said where it listens"
        return f"http://127.0.0.1:{self.port}"

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    async def wait_for(self, text: str | re.Pattern[str], within: float = WAIT) -> str:
        """The first output line containing ``text`` (or matching the pattern)."""

        def found() -> str | None:
            for line in self.lines:
                if text.search(line) if isinstance(text, re.Pattern) else text in line:
                    return line
            return None

        async def until() -> str:
            async with self._changed:
                while (line := found()) is None:
                    if self._reader is not None and self._reader.done():
                        raise AssertionError(f"the bot exited before saying {text!r}")
                    await self._changed.wait()
                return line

        try:
            return await asyncio.wait_for(until(), within)
        except (TimeoutError, AssertionError) as exc:
            raise AssertionError(f"{exc or 'timed out'}; output so far:\n{self.output}") from None

    async def ready(self, within: float = WAIT) -> None:
        """Until the HTTP server listens and ``/readyz`` says ready."""
        await self.wait_for("started: HTTP server", within)

        async def is_ready() -> bool:
            status, _ = await self.get("/readyz")
            return status == 200

        await poll(is_ready, "/readyz to answer 200", within)

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.url + path) as response,
        ):
            return response.status, await response.text()

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = await self.get("/readyz")
        return status, json.loads(body)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)

    async def exit_code(self, within: float = WAIT) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(f"the bot did not exit; output:\n{self.output}") from None
        if self._reader is not None:
            await asyncio.wait_for(self._reader, within)
        return code

    async def stop(self, within: float = WAIT) -> int:
        """SIGTERM, then the exit code."""
        if self.process.returncode is None:
            self.signal(signal.SIGTERM)
        return await self.exit_code(within)

    async def kill(self) -> None:
        """Teardown: whatever state it is in, the process is gone afterwards."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


@dataclass
class SlackSender:
    """Sends signed Slack requests to the bot's ``/slack/events``, as Slack does."""

    signing_secret: str
    response_urls: Callable[[], str]
    team: str = "T111"

    def headers(self, body: str) -> dict[str, str]:
        stamp = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=stamp, body=body
        )
        assert signature is not None
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }

    async def command(
        self,
        bot: BotProcess,
        name: str,
        text: str,
        *,
        user: str = "U111",
        channel: str = "C111",
    ) -> int:
        """A slash command; returns the HTTP status of the acknowledgement."""
        body = urlencode(
            {
                "token": "legacy",
                "team_id": self.team,
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": name,
                "text": text,
                "api_app_id": "A111",
                "response_url": self.response_urls(),
                "trigger_id": f"{time.monotonic_ns()}.1.abc",
            }
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                bot.url + "/slack/events", data=body, headers=self.headers(body)
            ) as response,
        ):
            await response.read()
            return response.status

    async def event(
        self, bot: BotProcess, event: dict[str, Any], *, event_id: str, retry: int = 0
    ) -> int:
        """An Events API callback (``app_mention``, ``message``); ``retry`` > 0 sends it as
        Slack's retry of an unacknowledged delivery (``X-Slack-Retry-Num``)."""
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": self.team,
                "api_app_id": "A111",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team, "user_id": "U0BOT", "is_bot": True}],
            }
        )
        headers = {**self.headers(body), "Content-Type": "application/json"}
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with (
            aiohttp.ClientSession() as session,
            session.post(bot.url + "/slack/events", data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def key_form(
        self, bot: BotProcess, provider: str, key: str, *, user: str = "U111"
    ) -> dict[str, Any]:
        """Submits the ``/byok add`` key form, as Slack does; Slack's answer to it."""
        view = {
            "id": f"V{time.monotonic_ns()}",
            "type": "modal",
            "callback_id": "byok_add_key",
            "private_metadata": json.dumps({"team": self.team, "channel": "D111"}),
            "state": {
                "values": {
                    "provider": {
                        "value": {"type": "static_select", "selected_option": {"value": provider}}
                    },
                    "key": {"value": {"type": "plain_text_input", "value": key}},
                }
            },
            "hash": "1.abc",
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team},
            "user": {"id": user},
            "api_app_id": "A111",
            "trigger_id": f"{time.monotonic_ns()}.1.abc",
            "view": view,
        }
        body = urlencode({"payload": json.dumps(payload)})
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                bot.url + "/slack/events", data=body, headers=self.headers(body)
            ) as response,
        ):
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = json.loads(await response.text() or "{}")
            return answer


@dataclass(frozen=True)
class Metrics:
    """One scrape of ``/metrics``, parsed from the exposition text."""

    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Metrics:
        return cls(
            tuple(
                sample
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            )
        )

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def labels(self, name: str) -> list[dict[str, str]]:
        return [dict(s.labels) for s in self.samples if s.name == name]


async def scrape(bot: BotProcess) -> Metrics:
    status, text = await bot.get("/metrics")
    assert status == 200
    return Metrics.parse(text)


async def idle(bot: BotProcess, commands: int, within: float = WAIT) -> Metrics:
    """Until ``commands`` commands have been handled and none is running; the scrape."""

    seen: list[Metrics] = []

    async def done() -> Metrics | None:
        metrics = await scrape(bot)
        seen[:] = [metrics]
        handled = metrics.value("byok_commands_total")
        running = metrics.value("byok_commands_in_flight")
        return metrics if handled >= commands and running == 0 else None

    try:
        found: Metrics = await poll(done, f"{commands} command(s) handled", within)
    except AssertionError as exc:
        counts = [
            (s.labels, s.value)
            for s in (seen[0].samples if seen else ())
            if s.name == "byok_commands_total"
        ]
        running = seen[0].value("byok_commands_in_flight") if seen else None
        raise AssertionError(f"{exc}; handled {counts}, running {running}") from None
    return found
