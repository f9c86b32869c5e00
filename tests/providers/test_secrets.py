"""A key never surfaces: not in error messages, reprs, tracebacks, nor logs.

The canary is a fresh key-shaped secret per test (``canary_key`` in tests/conftest.py).
The fakes echo keys the way real providers do (masked: the ends only).
"""

from __future__ import annotations

import logging
import traceback

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import ByokError, ProviderError
from byok.secret import Secret
from tests.fakes.loopback import Fault
from tests.providers.chat import Subject, ask, call


def _everything_about(err: BaseException) -> str:
    shown = COMMAND_HINTS.error_text(err) if isinstance(err, ByokError) else ""
    return "\n".join([str(err), repr(err), shown, "".join(traceback.format_exception(err))])


@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_canary_key_never_appears(
    subject: Subject, canary_key: str, caplog: pytest.LogCaptureFixture, streamed: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    canary = Secret(canary_key)
    model = subject.fake.models[0]
    errors: list[BaseException] = []

    async def failing(key: Secret, fault: Fault | None = None) -> None:
        if fault is not None:
            subject.fake.inject(fault)
        with pytest.raises(ProviderError) as raised:
            await call(subject.provider, key, ask(model, "hi"), streamed=streamed)
        errors.append(raised.value)

    await failing(canary)  # unknown to the fake: refused, and echoed back masked
    subject.fake.add_key(canary_key)
    await failing(canary, Fault.http(500))
    await failing(canary, Fault.rate_limited())
    await failing(canary, Fault.malformed())
    if streamed:
        await failing(canary, Fault.stream_error(after=subject.fake.events_before_text + 1))
    with pytest.raises(ProviderError) as raised:
        subject.fake.keys.pop(canary_key)
        await subject.provider.validate_key(canary)
    errors.append(raised.value)

    for err in errors:
        assert canary_key not in _everything_about(err)
    assert canary_key not in caplog.text
    assert canary_key not in repr(subject.provider)
    assert canary_key not in repr(canary)
    assert any(
        canary_key in (r.headers.get("Authorization", "") + r.headers.get("x-goog-api-key", ""))
        for r in subject.fake.requests
    ), "the canary was really sent"
