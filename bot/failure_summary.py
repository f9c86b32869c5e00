"""How a request no provider answered reads: what was tried, in order, and one next step.

The engine hands over the attempts as data (:class:`byok.errors.Attempt`: provider,
skipped or failed, and why, in a clause). The advice is chosen here, once for the whole
request, because the commands it names (``/byok limit …``) belong to this layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from byok.errors import (
    AllProvidersFailedError,
    Attempt,
    BadRequestError,
    ByokError,
    InvalidKeyError,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
    SpendLimitError,
    UnknownModelError,
    UnpricedModelError,
    VaultError,
    wait_text,
)

__all__ = ["failure_text", "fallback_status", "next_step"]

_TELL_OPERATOR = "tell your bot operator"
# Waits compared by seconds: a stated retry-after beats "shortly" beats "a minute".
_SHORTLY_S = 30.0
_A_MINUTE_S = 60.0


def failure_text(exc: AllProvidersFailedError) -> str:
    """``Couldn't answer: openai skipped — … · anthropic failed — ….`` and ``Next: …``."""
    step = next_step(exc.attempts)
    return exc.user_message + (f"\nNext: {step}." if step else "")


def fallback_status(failed: Attempt, next_provider_id: str) -> str:
    """The progress line while the next provider is tried; the reasons come in the reply."""
    return f"{failed.provider_id} {failed.outcome} — trying {next_provider_id}…"


def next_step(attempts: Sequence[Attempt]) -> str | None:
    """The single most useful thing to do: wait (when waiting is enough for one of the
    providers, the shortest such wait), or else the fix for the earliest provider in the
    chain, the one the user prefers; both when both exist."""
    waits = [w for a in attempts if (w := _wait(a.error)) is not None]
    fixes = [f for a in attempts if (f := _fix(a)) is not None]
    wait = min(waits)[1] if waits else None
    fix = fixes[0] if fixes else None
    if wait and fix:
        return f"{wait}, or {fix}"
    return wait or fix


def _wait(error: ByokError) -> tuple[float, str] | None:
    if isinstance(error, RateLimitedError):
        if error.retry_after:
            return error.retry_after, f"try again in {wait_text(error.retry_after)}"
        return _SHORTLY_S, "try again shortly"
    if isinstance(error, ProviderUnavailableError) and not error.operator_endpoint:
        return _A_MINUTE_S, "try again in a minute"
    return None


def _fix(attempt: Attempt) -> str | None:
    error, pid = attempt.error, attempt.provider_id
    if isinstance(error, ProviderError) and error.operator_endpoint:
        return None if isinstance(error, RateLimitedError) else _TELL_OPERATOR
    if isinstance(error, SpendLimitError):
        if error.operator_key:
            return f"add your own {pid} key with `/byok add {pid}`"
        return f"raise the {pid} limit with `/byok limit {pid} <usd>`"
    if isinstance(error, UnpricedModelError):
        return f"ask {pid} with a priced model (`--model`)"
    if isinstance(error, InvalidKeyError):
        if error.reason == "no_permission":
            return f"check the {pid} key's permissions in the {pid} console"
        return f"replace the {pid} key with `/byok add {pid}`"
    if isinstance(error, ProviderQuotaError):
        return f"add credit in the {pid} billing console"
    if isinstance(error, UnknownModelError):
        return "ask with another `--model`"
    if isinstance(error, BadRequestError):
        return "shorten the question or lower `--max-tokens`"
    if isinstance(error, VaultError):
        return f"add the {pid} key again with `/byok add {pid}`"
    return None
