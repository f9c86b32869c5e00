"""The whole exception tree of the engine.

::

    ByokError
    ├─ ConfigError
    ├─ VaultError
    │   ├─ MasterKeyMissingError
    │   ├─ KeyNotFoundError
    │   └─ KeyDecryptError
    ├─ StorageError
    │   └─ DatabaseUnavailableError
    ├─ ProviderError(provider_id, retryable)
    │   ├─ InvalidKeyError(reason)
    │   ├─ RateLimitedError(retry_after)
    │   ├─ ProviderQuotaError
    │   ├─ ProviderUnavailableError
    │   ├─ StreamInterruptedError
    │   ├─ BadRequestError
    │   └─ UnknownModelError(available)
    ├─ UnknownProviderError
    ├─ NoKeyError
    ├─ AllProvidersFailedError(attempts)
    ├─ SpendLimitError
    ├─ UnpricedModelError
    ├─ KeyInPromptError
    └─ RequestRateLimitError(retry_after)

Every error carries a ``user_message`` built only from safe fields (provider, model,
setting names, seconds to wait) that tells the user what to do next, and a ``brief``:
what went wrong in one clause, without advice, for a list of a request's attempts
(:class:`Attempt`). ``str(exc)`` is for logs and never contains a secret either:
provider bodies are not copied in.

A message about one provider names it as people know it ("xAI Grok") and keeps its id
where it is typed (``/byok add xai``). Where an error is raised the name may not be
known (a provider client knows only its id), so such a message is a :data:`Wording`;
the engine calls :meth:`ByokError.name_provider` before the error leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from byok.money import usd
from byok.wording import with_article

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "AttemptOutcome",
    "BadRequestError",
    "ByokError",
    "ConfigError",
    "DatabaseUnavailableError",
    "InvalidKeyError",
    "KeyDecryptError",
    "KeyForAnotherProviderError",
    "KeyInPromptError",
    "KeyNotFoundError",
    "KeyProblem",
    "MasterKeyMissingError",
    "NoKeyError",
    "ProviderError",
    "ProviderQuotaError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "RequestRateLimitError",
    "SpendLimitError",
    "StorageError",
    "StreamInterruptedError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnpricedModelError",
    "VaultError",
    "Wording",
    "as_operator_endpoint",
    "wait_text",
]

#: A user message about one provider, given the name people know it by.
Wording = Callable[[str], str]


class ByokError(Exception):
    """Base of every error the engine raises on purpose.

    ``user_message`` may be a :data:`Wording`, worded with ``name`` (the provider's name
    if known, else its id) until :meth:`name_provider` words it again.
    """

    #: ``brief`` when none is given (else the user message).
    default_brief: str | None = None

    def __init__(
        self,
        message: str,
        *,
        user_message: str | Wording | None = None,
        brief: str | None = None,
        name: str = "",
    ) -> None:
        super().__init__(message)
        self._wording: Wording | None = None
        if callable(user_message):
            self._reword(user_message, name)
        else:
            self.user_message = user_message or message
        #: What went wrong, in a clause with no advice ("rate limited (retry after 20 s)").
        self.brief = brief or self.default_brief or self.user_message

    def name_provider(self, name: str) -> None:
        """Name the provider in ``user_message`` as people know it (``xAI Grok``); commands
        in it keep the id. An error that names no provider is left as it is."""
        if self._wording is not None:
            self.user_message = self._wording(name)

    def _reword(self, wording: Wording, name: str) -> None:
        self._wording = wording
        self.user_message = wording(name)


class ConfigError(ByokError):
    """A setting is missing, unknown or has the wrong type; the message names it."""


class VaultError(ByokError):
    """Encryption or decryption of a stored key failed."""

    default_brief = "the stored key cannot be read"


class MasterKeyMissingError(VaultError):
    """No master key is configured and the mode does not allow a generated one."""


class KeyNotFoundError(VaultError):
    """The user has no stored key for that provider."""

    def __init__(self, provider_id: str, *, name: str | None = None) -> None:
        super().__init__(
            f"no stored {provider_id} key",
            user_message=lambda name: (
                f"You have no {name} key. Add one with `/byok add {provider_id}`."
            ),
            brief="no key stored",
            name=name or provider_id,
        )
        self.provider_id = provider_id


class KeyDecryptError(VaultError):
    """A stored key cannot be decrypted: wrong master key, tampered row, or moved row."""


class StorageError(ByokError):
    """The database refused an operation."""


class DatabaseUnavailableError(StorageError):
    """The database is locked, down or unreachable; nothing was written."""


class ProviderError(ByokError):
    """A provider call failed. ``retryable`` tells the router a fallback may help."""

    retryable: bool = False
    kind: str = "provider_error"
    #: The provider may have done (and billed) the work although the call failed.
    may_have_billed: bool = False
    #: The provider is an endpoint the operator runs without user keys (Ollama, vLLM).
    operator_endpoint: bool = False

    def __init__(
        self,
        provider_id: str,
        message: str,
        *,
        user_message: str | Wording | None = None,
        model_id: str | None = None,
        brief: str | None = None,
    ) -> None:
        super().__init__(
            f"{provider_id}: {message}", user_message=user_message, brief=brief, name=provider_id
        )
        self.provider_id = provider_id
        self.model_id = model_id


KeyProblem = Literal["invalid", "revoked", "blocked", "no_permission"]

_KEY_PROBLEM_TEXT: dict[str, str] = {
    "invalid": "was refused as invalid",
    "revoked": "has been revoked or disabled",
    "blocked": "is blocked by the provider",
    "no_permission": "lacks permission for this request",
}


class InvalidKeyError(ProviderError):
    """The provider refused the key (401/403, or 400 for Gemini and xAI)."""

    kind = "invalid_key"

    def __init__(
        self, provider_id: str, reason: KeyProblem = "invalid", *, model_id: str | None = None
    ) -> None:
        text = _KEY_PROBLEM_TEXT[reason]

        def wording(name: str) -> str:
            advice = (
                f"Check its permissions in the {name} console (some models, regions or "
                f"projects must be enabled there), ask with another `--model`, or replace the "
                f"key with `/byok add {provider_id}`."
                if reason == "no_permission"
                else f"Create a new key in the {name} console and replace it with "
                f"`/byok add {provider_id}`."
            )
            return f"Your {name} key {text}. {advice}"

        super().__init__(
            provider_id,
            f"key {text}",
            user_message=wording,
            model_id=model_id,
            brief=f"the key {text}",
        )
        self.reason: KeyProblem = reason


class RateLimitedError(ProviderError):
    """The provider asked us to slow down (429)."""

    retryable = True
    kind = "rate_limited"

    def __init__(
        self, provider_id: str, retry_after: float | None = None, *, model_id: str | None = None
    ) -> None:
        wait = f" Try again in {wait_text(retry_after)}." if retry_after else " Try again shortly."
        super().__init__(
            provider_id,
            f"rate limited (retry after {retry_after}s)",
            user_message=lambda name: f"{name} is rate limiting your key.{wait}",
            model_id=model_id,
            brief=f"rate limited (retry after {wait_text(retry_after)})"
            if retry_after
            else "rate limited",
        )
        self.retry_after = retry_after


class ProviderQuotaError(ProviderError):
    """The account behind the key has no credit or hit its provider-side quota."""

    retryable = True
    kind = "quota_exhausted"

    def __init__(self, provider_id: str, *, model_id: str | None = None) -> None:
        super().__init__(
            provider_id,
            "quota or credit exhausted",
            user_message=lambda name: (
                f"Your {name} account has run out of credit or quota. "
                f"Add credit in the {name} billing console, or use another provider."
            ),
            model_id=model_id,
            brief="the account is out of credit or quota",
        )


class ProviderUnavailableError(ProviderError):
    """5xx, timeout, connection failure or an unreadable response."""

    retryable = True
    kind = "unavailable"

    def __init__(
        self,
        provider_id: str,
        what: str,
        *,
        model_id: str | None = None,
        may_have_billed: bool = False,
    ) -> None:
        super().__init__(
            provider_id,
            f"unavailable: {what}",
            user_message=lambda name: (
                f"{name} is not answering right now ({what}). "
                "Try again in a minute or ask another provider with `--provider`."
            ),
            model_id=model_id,
            brief=f"not answering ({what})",
        )
        self.what = what
        self.may_have_billed = may_have_billed  # a timeout, or a connection lost mid-answer


class StreamInterruptedError(ProviderUnavailableError):
    """A stream ended or failed after it had started sending tokens."""

    kind = "stream_interrupted"

    def __init__(self, provider_id: str, what: str, *, model_id: str | None = None) -> None:
        super().__init__(provider_id, what, model_id=model_id)
        #: What the user was shown before the stream stopped (set by the engine).
        self.partial_text = ""
        self._reword(
            lambda name: (
                f"{name} stopped in the middle of the answer ({what}); "
                "what you see is incomplete. Ask again to get a full answer."
            ),
            provider_id,
        )
        self.brief = f"stopped in the middle of the answer ({what})"


class BadRequestError(ProviderError):
    """The provider rejected the request itself (context too long, bad parameter)."""

    kind = "bad_request"

    def __init__(self, provider_id: str, what: str, *, model_id: str | None = None) -> None:
        super().__init__(
            provider_id,
            f"bad request: {what}",
            user_message=lambda name: f"{name} rejected the request: {what}.",
            model_id=model_id,
            brief=f"rejected the request ({what})",
        )
        self.what = what


class UnknownModelError(ProviderError):
    """The model does not exist, or the key may not use it."""

    kind = "unknown_model"

    def __init__(self, provider_id: str, model_id: str, available: Sequence[str] = ()) -> None:
        hint = f" Models your key can use: {_some(available)}." if available else ""
        super().__init__(
            provider_id,
            f"unknown model {model_id!r}",
            user_message=lambda name: f"{name} has no model `{model_id}` for your key.{hint}",
            model_id=model_id,
            brief=f"no model `{model_id}` for this key",
        )
        self.available = tuple(available)


class UnknownProviderError(ByokError):
    """A provider name that is neither built in nor configured."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown provider {name!r}",
            user_message=f"Unknown provider `{name}`. Choose one of: {', '.join(known)}.",
        )
        self.name = name
        self.known = tuple(known)


class NoKeyError(ByokError):
    """The user has no usable key for the provider and no operator key is allowed."""

    def __init__(self, provider_id: str, *, name: str | None = None) -> None:
        super().__init__(
            f"no key for {provider_id}",
            user_message=lambda name: (
                f"You have no {name} key yet. Add one with `/byok add {provider_id}` "
                "(it asks for the key privately)."
            ),
            brief="no key",
            name=name or provider_id,
        )
        self.provider_id = provider_id


AttemptOutcome = Literal["skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One provider of a routed request that did not answer, and why."""

    provider_id: str
    model_id: str
    error: ByokError

    @property
    def outcome(self) -> AttemptOutcome:
        """``failed``: the provider was called and failed. ``skipped``: it was never
        called (a monthly limit, a model with no price, a key that cannot be read)."""
        return "failed" if isinstance(self.error, ProviderError) else "skipped"


class AllProvidersFailedError(ByokError):
    """No provider in the chain answered; ``attempts`` says, in order, how each did not.

    The command layer words the attempts for people (``bot.failure_summary``: each
    provider by its name, one next step); ``str(exc)`` is the one line logs need.
    """

    def __init__(self, attempts: Sequence[Attempt]) -> None:
        super().__init__(
            "all providers failed: "
            + "; ".join(f"{a.provider_id} {a.outcome}: {a.error}" for a in attempts),
            user_message="Couldn't answer: every provider tried failed or was skipped.",
        )
        self.attempts = tuple(attempts)


class KeyForAnotherProviderError(ByokError):
    """A key was added under one provider but carries another provider's prefix."""

    def __init__(
        self,
        provider_id: str,
        vendor: str,
        prefix: str,
        *,
        name: str | None = None,
        vendor_name: str | None = None,
    ) -> None:
        that = with_article(vendor_name or vendor)
        super().__init__(
            f"{vendor}-shaped key offered for {provider_id}",
            user_message=lambda name: (
                f"That looks like {that} key (it starts with `{prefix}`), not your "
                f"{name} key. Nothing was stored. Add it with `/byok add {vendor}`, "
                f"or paste your {name} key instead."
            ),
            name=name or provider_id,
        )
        self.provider_id = provider_id
        self.vendor = vendor


class SpendLimitError(ByokError):
    """The request could push a key or operator cap past its monthly limit."""

    def __init__(
        self,
        provider_id: str,
        limit: Decimal,
        spent: Decimal,
        needed: Decimal | None = None,
        *,
        operator_key: bool = False,
        name: str | None = None,
    ) -> None:
        budget = (
            f"the shared {usd(limit)} monthly allowance"
            if operator_key
            else f"its {usd(limit)} monthly limit"
        )
        fix = (
            f"Add your own key with `/byok add {provider_id}`"
            if operator_key
            else f"Raise it with `/byok limit {provider_id} <usd>`"
        )
        room = needed is not None and spent < limit

        def wording(name: str) -> str:
            whose = (
                f"the shared {name} allowance of {usd(limit)} a month"
                if operator_key
                else f"your {name} monthly limit of {usd(limit)}"
            )
            why = (
                f"This request could cost up to {usd(needed)}, more than the "
                f"{usd(limit - spent)} left of {whose} ({usd(spent)} spent)."
                if room
                else f"You have used up {whose} ({usd(spent)} spent)."
            )
            return f"{why} {fix}, lower `--max-tokens`, or ask another provider."

        brief = (
            f"{budget} has {usd(limit - spent)} left, this request could cost up to {usd(needed)}"
            if room
            else f"{budget} is used up ({usd(spent)} spent)"
        )
        super().__init__(
            f"{provider_id} monthly limit reached",
            user_message=wording,
            brief=brief,
            name=name or provider_id,
        )
        self.provider_id = provider_id
        self.operator_key = operator_key
        self.limit = limit
        self.spent = spent
        self.needed = needed
        self.notices: tuple[object, ...] = ()  # quota notices due now (byok.alerts.QuotaNotice)


class UnpricedModelError(ByokError):
    """A limit applies but the model's price is unknown, so the limit cannot be enforced."""

    def __init__(
        self,
        provider_id: str,
        model_id: str,
        *,
        operator_key: bool = False,
        name: str | None = None,
    ) -> None:
        def wording(name: str) -> str:
            if operator_key:
                advice = (
                    f"the shared {name} allowance cannot be used for it. Ask with a priced "
                    f"model (`--model`), or add your own key with `/byok add {provider_id}`."
                )
            else:
                advice = (
                    f"your {name} monthly limit cannot be enforced for it. Ask with a "
                    f"priced model (`--model`, or make one your default with `/byok prefs model "
                    f"{provider_id} <model>`), or remove the limit with "
                    f"`/byok limit {provider_id} off`."
                )
            return f"The price of `{model_id}` is unknown, so {advice}"

        budget = (
            "the shared allowance cannot cover it"
            if operator_key
            else "its limit cannot be enforced"
        )
        super().__init__(
            f"no price known for {provider_id}/{model_id}; limit cannot be enforced",
            user_message=wording,
            brief=f"the price of `{model_id}` is unknown, so {budget}",
            name=name or provider_id,
        )
        self.provider_id = provider_id
        self.operator_key = operator_key
        self.model_id = model_id


class KeyInPromptError(ByokError):
    """A message looked like it contained an API key; nothing was sent anywhere."""

    def __init__(self) -> None:
        super().__init__(
            "message contains a key-shaped secret; not sent",
            user_message=(
                "Your message contains what looks like an API key or token, so it was not "
                "sent to any provider. Treat that key as exposed: revoke it at the provider, "
                "create a new one and add it privately with `/byok add <provider>`."
            ),
        )


class RequestRateLimitError(ByokError):
    """The user sent more requests than the bot allows per minute."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"request rate limit, retry after {retry_after:.1f}s",
            user_message=f"You are sending requests quickly. Try again in {wait_text(retry_after)}.",
        )
        self.retry_after = retry_after


def as_operator_endpoint(exc: ProviderError) -> ProviderError:
    """Reword ``exc`` for a keyless endpoint the operator runs (Ollama, vLLM): it names
    the endpoint and never blames, or asks for, a key of the user's. Changed in place;
    :meth:`ByokError.name_provider` still names the endpoint afterwards."""
    exc.operator_endpoint = True
    pid, tell = exc.provider_id, "tell your bot operator."
    if isinstance(exc, StreamInterruptedError | BadRequestError):
        return exc  # about the answer or the request, not about keys
    if isinstance(exc, RateLimitedError):
        wait = wait_text(exc.retry_after)
        said = f"is rate limiting requests. Try again in {wait}."
    elif isinstance(exc, ProviderUnavailableError):
        exc.brief = f"the operator's endpoint is not answering ({exc.what})"
        said = f"is not answering ({exc.what}) — {tell}"
    elif isinstance(exc, InvalidKeyError):
        exc.brief = "the operator's endpoint refused the request as unauthorised"
        said = f"refused the request as unauthorised — {tell}"
    elif isinstance(exc, ProviderQuotaError):
        exc.brief = "the operator's endpoint is out of credit or quota"
        said = f"is out of credit or quota — {tell}"
    elif isinstance(exc, UnknownModelError):
        hint = f" It serves: {_some(exc.available)}." if exc.available else ""
        exc.brief = f"no model `{exc.model_id}`"
        said = f"has no model `{exc.model_id}`.{hint}"
    else:
        exc.brief = f"the operator's endpoint failed ({exc.kind.replace('_', ' ')})"
        said = f"failed ({exc.kind.replace('_', ' ')}) — {tell}"
    # An id reads as code (`local`); an operator's name as written ("Office Llama").
    exc._reword(
        lambda name: f"The operator's endpoint {f'`{pid}`' if name == pid else name} {said}", pid
    )
    return exc


def _some(names: Sequence[str], most: int = 15) -> str:
    shown = ", ".join(list(names)[:most])
    return shown + (f" (and {len(names) - most} more)" if len(names) > most else "")


def wait_text(value: float | None) -> str:
    """How long to wait, as a user reads it: ``20 s`` (at least 1), or ``a moment``."""
    if value is None:
        return "a moment"
    whole = max(1, round(value))
    return f"{whole} s"
