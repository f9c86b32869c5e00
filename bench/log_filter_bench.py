"""The log filter: µs it adds to each record, by kind of record and secrets remembered.

Every record any logger writes passes ``bot.logs.LogRedactor`` on the root handler: the
library bodies are taken out, then every secret the process has met (in any encoding)
and every key-shaped string is masked. This times ``filter()`` alone (CPU time, the best of several runs), on one core, for
records as the bot writes them, with 0, 16 and 512 secrets remembered (512 is the most
the process keeps).

    .venv/bin/python -m bench.log_filter_bench [--seconds 1]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import bot
from bench.common import machine
from bot.logs import LogRedactor
from byok.secret import REMEMBERED, SEEN


def _records() -> dict[str, Callable[[], logging.LogRecord]]:
    def ours() -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": "bot.dispatch",
                "msg": "command %s answered in %d ms by %s",
                "args": ("/ask", 812, "openai gpt-4o-mini"),
                "pathname": str(Path(bot.__file__).parent / "dispatch.py"),
            }
        )

    def library() -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": "anthropic._base_client",
                "msg": 'HTTP Response: %s %s "%i %s" %s',
                "args": (
                    "POST",
                    "https://api.anthropic.com/v1/messages",
                    200,
                    "OK",
                    {"content-type": "text/event-stream", "request-id": "req_" + "0" * 24},
                ),
                "pathname": logging.__file__,
            }
        )

    body = "payload=" + "%7B%22type%22%3A+%22view_submission%22%2C+" * 40

    def library_body() -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": "slack_bolt.RequestVerification",
                "msg": "Invalid request signature detected (signature: v0=ab, "
                f"timestamp: 1700000000, body: {body})",
                "pathname": logging.__file__,
            }
        )

    return {"our line": ours, "library line": library, "library line with a body": library_body}


def per_record(make: Callable[[], logging.LogRecord], seconds: float) -> float:
    """µs of CPU per ``filter()`` call (the best of several runs), making the record
    not counted."""
    redactor = LogRedactor()

    def best(operation: Callable[[], object]) -> float:
        runs = timeit.repeat(
            operation, number=1000, repeat=max(3, int(seconds * 20)), timer=time.process_time
        )
        return min(runs) / 1000 * 1e6

    return best(lambda: redactor.filter(make())) - best(make)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(machine())
    remembered = 0
    for target in (0, 16, REMEMBERED):
        while remembered < target:
            SEEN.add("sk-proj-" + secrets.token_urlsafe(40))
            remembered += 1
        for kind, make in _records().items():
            cost = per_record(make, args.seconds)
            print(f"{target:>4} secrets remembered, {kind:<26} {cost:6.1f} µs per record")


if __name__ == "__main__":
    main()
