"""How a request no provider answered reads: what was tried, in order, and one next step.

The engine hands over the attempts as data (:class:`byok.errors.Attempt`: provider,
skipped or failed, and why, in a clause). They are worded here, naming each provider as
people know it, and the advice is chosen here, once for the whole request, naming the
bot's commands through its hints (``bot.remedy_text``).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.provider_names import ProviderNames
from bot.remedy_text import CommandHints
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
from byok.remedies import AddKey, ChooseMaxTokens, ChooseModel, RaiseLimit

__all__ = ["attempt_text", "failure_text", "fallback_status", "next_step"]

_TELL_OPERATOR = "tell your bot operator"
# Waits compared by seconds: a stated retry-after beats "shortly" beats "a minute".
_SHORTLY_S = 30.0
_A_MINUTE_S = 60.0


def failure_text(exc: AllProvidersFailedError, names: ProviderNames, hints: CommandHints) -> str:
    """``Couldn't answer: OpenAI skipped — … · Anthropic failed — ….`` and ``Next: …``."""
    step = next_step(exc.attempts, names, hints)
    return f"Couldn't answer: {_grouped(exc.attempts, names)}." + (
        f"\nNext: {step}." if step else ""
    )


def attempt_text(attempt: Attempt, names: ProviderNames) -> str:
    """``OpenAI skipped — its $5.00 monthly limit has $0.12 left, …``."""
    return _run_text([attempt], names)


def fallback_status(failed: Attempt, next_provider_id: str, names: ProviderNames) -> str:
    """The progress line while the next provider is tried; the reasons come in the reply."""
    return (
        f"{names.label(failed.provider_id)} {failed.outcome} — "
        f"trying {names.label(next_provider_id)}…"
    )


def _grouped(attempts: Sequence[Attempt], names: ProviderNames) -> str:
    """The attempts in order; neighbours that went the same way share one clause
    (``OpenAI and Anthropic failed — not answering (server error 503)``)."""
    runs: list[list[Attempt]] = []
    for attempt in attempts:
        last = runs[-1][-1] if runs else None
        if last is not None and (last.outcome, last.error.brief) == (
            attempt.outcome,
            attempt.error.brief,
        ):
            runs[-1].append(attempt)
        else:
            runs.append([attempt])
    return " · ".join(_run_text(run, names) for run in runs)


def _run_text(run: Sequence[Attempt], names: ProviderNames) -> str:
    who = [names.label(a.provider_id) for a in run]
    listed = who[0] if len(who) == 1 else f"{', '.join(who[:-1])} and {who[-1]}"
    return f"{listed} {run[0].outcome} — {run[0].error.brief}"


def next_step(attempts: Sequence[Attempt], names: ProviderNames, hints: CommandHints) -> str | None:
    """The single most useful thing to do: wait (when waiting is enough for one of the
    providers, the shortest such wait), or else the fix for the earliest provider in the
    chain, the one the user prefers; both when both exist."""
    waits = [w for a in attempts if (w := _wait(a.error)) is not None]
    fixes = [f for a in attempts if (f := _fix(a, names, hints)) is not None]
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


def _fix(attempt: Attempt, names: ProviderNames, hints: CommandHints) -> str | None:
    """The fix, naming the provider by its name and the command by its id."""
    error, pid = attempt.error, attempt.provider_id
    name, typed = names.label(pid), hints.remedy_text
    if isinstance(error, ProviderError) and error.operator_endpoint:
        return None if isinstance(error, RateLimitedError) else _TELL_OPERATOR
    if isinstance(error, SpendLimitError):
        if error.operator_key:
            return f"add your own {name} key with {typed(AddKey(pid))}"
        return f"raise the {name} limit with {typed(RaiseLimit(pid))}"
    if isinstance(error, UnpricedModelError):
        return f"ask {name} with a priced model ({typed(ChooseModel())})"
    if isinstance(error, InvalidKeyError):
        if error.reason == "no_permission":
            return f"check the {name} key's permissions in the {name} console"
        return f"replace the {name} key with {typed(AddKey(pid))}"
    if isinstance(error, ProviderQuotaError):
        return f"add credit in the {name} billing console"
    if isinstance(error, UnknownModelError):
        return f"ask with another {typed(ChooseModel())}"
    if isinstance(error, BadRequestError):
        return f"shorten the question or lower {typed(ChooseMaxTokens())}"
    if isinstance(error, VaultError):
        return f"add the {name} key again with {typed(AddKey(pid))}"
    return None
