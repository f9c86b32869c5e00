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
    ├─ ImageError
    ├─ NoVisionModelError
    └─ RequestRateLimitError(retry_after)

Every error tells a user, from safe fields only (provider, model, setting names,
seconds to wait), what went wrong (``explanation``) and what to do next (``advice``),
and has a ``brief``: what went wrong in one clause, for a list of a request's attempts
(:class:`Attempt`). ``str(exc)`` is for logs and never contains a secret either:
provider bodies are not copied in.

The engine speaks no command syntax: where advice needs one of the bot's commands or
options it holds a remedy (:mod:`byok.remedies`), which the bot words as its command
(``bot.remedy_text``). So the text a user reads is the bot's, made of these parts.

Text about one provider names it as people know it ("xAI Grok"); a remedy keeps its
id, as commands are typed with it. Where an error is raised the name may not be known
(a provider client knows only its id), so such text is a :data:`Wording`; the engine
calls :meth:`ByokError.name_provider` before the error leaves it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from byok.money import usd
from byok.remedies import (
    AddKey,
    Advice,
    ChooseMaxTokens,
    ChooseModel,
    ChooseProvider,
    RaiseLimit,
    Remedy,
    RemoveLimit,
    SetPreferredModel,
    remedies_in,
)
from byok.wording import with_article

__all__ = [
    "AllProvidersFailedError",
    "Attempt",
    "AttemptOutcome",
    "BadRequestError",
    "ByokError",
    "ConfigError",
    "DatabaseUnavailableError",
    "ImageError",
    "InvalidKeyError",
    "KeyDecryptError",
    "KeyForAnotherProviderError",
    "KeyInPromptError",
    "KeyNotFoundError",
    "KeyProblem",
    "MasterKeyMissingError",
    "NoKeyError",
    "NoVisionModelError",
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

#: Text about one provider, given the name people know it by.
Wording = Callable[[str], str]
#: Advice about one provider, given the name people know it by.
AdviceWording = Callable[[str], Advice]


class ByokError(Exception):
    """Base of every error the engine raises on purpose.

    A user reads the explanation, then the advice after a space, each remedy in it
    worded as the bot's command. ``explanation`` and ``advice`` may be worded with
    ``name`` (the provider's name if known, else its id) until :meth:`name_provider`
    words them again.
    """

    #: ``brief`` when none is given (else the explanation).
    default_brief: str | None = None

    def __init__(
        self,
        message: str,
        *,
        explanation: str | Wording | None = None,
        advice: Advice | AdviceWording = (),
        brief: str | None = None,
        name: str = "",
    ) -> None:
        super().__init__(message)
        #: What went wrong, for a user, in whole sentences ("Your xAI Grok key was
        #: refused as invalid."): ``message`` if not given. Never names a command.
        self.explanation = ""
        #: What to do about it: prose with a remedy where a command goes; may be empty.
        self.advice: Advice = ()
        self._reword(explanation or message, advice, name)
        #: What went wrong, in a clause with no advice ("rate limited (retry after 20 s)").
        self.brief = brief or self.default_brief or self.explanation

    @property
    def remedies(self) -> tuple[Remedy, ...]:
        """What the advice says to do with the bot's commands, in order."""
        return remedies_in(self.advice)

    def name_provider(self, name: str) -> None:
        """Name the provider in the explanation and advice as people know it (``xAI
        Grok``); remedies keep its id. An error that names no provider is left as it is."""
        if self._explaining is not None:
            self.explanation = self._explaining(name)
        if self._advising is not None:
            self.advice = self._advising(name)

    def _reword(
        self, explanation: str | Wording, advice: Advice | AdviceWording, name: str
    ) -> None:
        self._explaining = explanation if callable(explanation) else None
        self._advising = advice if callable(advice) else None
        self.explanation = explanation(name) if callable(explanation) else explanation
        self.advice = advice(name) if callable(advice) else tuple(advice)


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
            explanation=lambda name: f"You have no {name} key.",
            advice=("Add one with ", AddKey(provider_id), "."),
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
        explanation: str | Wording | None = None,
        advice: Advice | AdviceWording = (),
        model_id: str | None = None,
        brief: str | None = None,
    ) -> None:
        super().__init__(
            f"{provider_id}: {message}",
            explanation=explanation,
            advice=advice,
            brief=brief,
            name=provider_id,
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

        def advice(name: str) -> Advice:
            if reason == "no_permission":
                return (
                    f"Check its permissions in the {name} console (some models, regions or "
                    "projects must be enabled there), ask with another ",
                    ChooseModel(),
                    ", or replace the key with ",
                    AddKey(provider_id),
                    ".",
                )
            return (
                f"Create a new key in the {name} console and replace it with ",
                AddKey(provider_id),
                ".",
            )

        super().__init__(
            provider_id,
            f"key {text}",
            explanation=lambda name: f"Your {name} key {text}.",
            advice=advice,
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
        wait = f"Try again in {wait_text(retry_after)}." if retry_after else "Try again shortly."
        super().__init__(
            provider_id,
            f"rate limited (retry after {retry_after}s)",
            explanation=lambda name: f"{name} is rate limiting your key.",
            advice=(wait,),
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
            explanation=lambda name: f"Your {name} account has run out of credit or quota.",
            advice=lambda name: (
                f"Add credit in the {name} billing console, or use another provider.",
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
            explanation=lambda name: f"{name} is not answering right now ({what}).",
            advice=("Try again in a minute or ask another provider with ", ChooseProvider(), "."),
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
                f"{name} stopped in the middle of the answer ({what}); what you see is incomplete."
            ),
            ("Ask again to get a full answer.",),
            provider_id,
        )
        self.brief = f"stopped in the middle of the answer ({what})"


class BadRequestError(ProviderError):
    """The provider rejected the request itself (context too long, bad parameter);
    ``advice``, if any, says what to ask with instead."""

    kind = "bad_request"

    def __init__(
        self,
        provider_id: str,
        what: str,
        *,
        model_id: str | None = None,
        advice: Advice | AdviceWording = (),
    ) -> None:
        super().__init__(
            provider_id,
            f"bad request: {what}",
            explanation=lambda name: f"{name} rejected the request: {what}.",
            advice=advice,
            model_id=model_id,
            brief=f"rejected the request ({what})",
        )
        self.what = what


class UnknownModelError(ProviderError):
    """The model does not exist, or the key may not use it."""

    kind = "unknown_model"

    def __init__(self, provider_id: str, model_id: str, available: Sequence[str] = ()) -> None:
        super().__init__(
            provider_id,
            f"unknown model {model_id!r}",
            explanation=lambda name: f"{name} has no model `{model_id}` for your key.",
            advice=(f"Models your key can use: {_some(available)}.",) if available else (),
            model_id=model_id,
            brief=f"no model `{model_id}` for this key",
        )
        self.available = tuple(available)


class UnknownProviderError(ByokError):
    """A provider name that is neither built in nor configured."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(
            f"unknown provider {name!r}",
            explanation=f"Unknown provider `{name}`.",
            advice=(f"Choose one of: {', '.join(known)}.",),
        )
        self.name = name
        self.known = tuple(known)


class NoKeyError(ByokError):
    """The user has no usable key for the provider and no operator key is allowed."""

    def __init__(self, provider_id: str, *, name: str | None = None) -> None:
        super().__init__(
            f"no key for {provider_id}",
            explanation=lambda name: f"You have no {name} key yet.",
            advice=("Add one with ", AddKey(provider_id), " (it asks for the key privately)."),
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
            explanation="Couldn't answer: every provider tried failed or was skipped.",
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
            explanation=lambda name: (
                f"That looks like {that} key (it starts with `{prefix}`), not your "
                f"{name} key. Nothing was stored."
            ),
            advice=lambda name: (
                "Add it with ",
                AddKey(vendor),
                f", or paste your {name} key instead.",
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
        fix: Advice = (
            ("Add your own key with ", AddKey(provider_id))
            if operator_key
            else ("Raise it with ", RaiseLimit(provider_id))
        )
        room = needed is not None and spent < limit

        def explanation(name: str) -> str:
            whose = (
                f"the shared {name} allowance of {usd(limit)} a month"
                if operator_key
                else f"your {name} monthly limit of {usd(limit)}"
            )
            return (
                f"This request could cost up to {usd(needed)}, more than the "
                f"{usd(limit - spent)} left of {whose} ({usd(spent)} spent)."
                if room
                else f"You have used up {whose} ({usd(spent)} spent)."
            )

        brief = (
            f"{budget} has {usd(limit - spent)} left, this request could cost up to {usd(needed)}"
            if room
            else f"{budget} is used up ({usd(spent)} spent)"
        )
        super().__init__(
            f"{provider_id} monthly limit reached",
            explanation=explanation,
            advice=(*fix, ", lower ", ChooseMaxTokens(), ", or ask another provider."),
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
        def explanation(name: str) -> str:
            so = (
                f"the shared {name} allowance cannot be used for it"
                if operator_key
                else f"your {name} monthly limit cannot be enforced for it"
            )
            return f"The price of `{model_id}` is unknown, so {so}."

        advice: Advice
        if operator_key:
            advice = (
                "Ask with a priced model (",
                ChooseModel(),
                "), or add your own key with ",
                AddKey(provider_id),
                ".",
            )
        else:
            advice = (
                "Ask with a priced model (",
                ChooseModel(),
                ", or make one your default with ",
                SetPreferredModel(provider_id),
                "), or remove the limit with ",
                RemoveLimit(provider_id),
                ".",
            )

        budget = (
            "the shared allowance cannot cover it"
            if operator_key
            else "its limit cannot be enforced"
        )
        super().__init__(
            f"no price known for {provider_id}/{model_id}; limit cannot be enforced",
            explanation=explanation,
            advice=advice,
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
            explanation=(
                "Your message contains what looks like an API key or token, so it was not "
                "sent to any provider."
            ),
            advice=(
                "Treat that key as exposed: revoke it at the provider, create a new one and "
                "add it privately with ",
                AddKey(),
                ".",
            ),
        )


class ImageError(ByokError):
    """An attached image cannot be sent: not an image, too large, or more than the
    provider takes. Raised before any provider call; nothing is billed."""

    default_brief = "the image cannot be sent"


class NoVisionModelError(ByokError):
    """The question has images and no model the user can use reads them."""

    def __init__(self, provider_id: str | None, *, name: str | None = None) -> None:
        if provider_id is None:
            super().__init__(
                "no vision-capable model among the user's providers",
                explanation=(
                    "None of the models you can use reads images, so the question was not sent."
                ),
                advice=(
                    "Add a key for a provider whose models see images (OpenAI, Anthropic, "
                    "Google Gemini, xAI Grok) with ",
                    AddKey(),
                    ", or ask without the image.",
                ),
                brief="no model reads images",
            )
        else:
            super().__init__(
                f"no vision-capable {provider_id} model",
                explanation=lambda name: (
                    f"No {name} model you can use reads images, so the question was not sent."
                ),
                advice=(
                    "Name a model that sees images with ",
                    ChooseModel(),
                    ", or another provider with ",
                    ChooseProvider(),
                    ".",
                ),
                brief="no model reads images",
                name=name or provider_id,
            )
        self.provider_id = provider_id


class RequestRateLimitError(ByokError):
    """The user sent more requests than the bot allows per minute."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"request rate limit, retry after {retry_after:.1f}s",
            explanation="You are sending requests quickly.",
            advice=(f"Try again in {wait_text(retry_after)}.",),
        )
        self.retry_after = retry_after


def as_operator_endpoint(exc: ProviderError) -> ProviderError:
    """Reword ``exc`` for a keyless endpoint the operator runs (Ollama, vLLM): it names
    the endpoint and never blames, or asks for, a key of the user's. Changed in place;
    :meth:`ByokError.name_provider` still names the endpoint afterwards."""
    exc.operator_endpoint = True
    pid, tell = exc.provider_id, ("— tell your bot operator.",)
    if isinstance(exc, StreamInterruptedError | BadRequestError):
        return exc  # about the answer or the request, not about keys
    advice: Advice = tell
    if isinstance(exc, RateLimitedError):
        said = "is rate limiting requests."
        advice = (f"Try again in {wait_text(exc.retry_after)}.",)
    elif isinstance(exc, ProviderUnavailableError):
        exc.brief = f"the operator's endpoint is not answering ({exc.what})"
        said = f"is not answering ({exc.what})"
    elif isinstance(exc, InvalidKeyError):
        exc.brief = "the operator's endpoint refused the request as unauthorised"
        said = "refused the request as unauthorised"
    elif isinstance(exc, ProviderQuotaError):
        exc.brief = "the operator's endpoint is out of credit or quota"
        said = "is out of credit or quota"
    elif isinstance(exc, UnknownModelError):
        exc.brief = f"no model `{exc.model_id}`"
        said = f"has no model `{exc.model_id}`."
        advice = (f"It serves: {_some(exc.available)}.",) if exc.available else ()
    else:
        exc.brief = f"the operator's endpoint failed ({exc.kind.replace('_', ' ')})"
        said = f"failed ({exc.kind.replace('_', ' ')})"
    # An id reads as code (`local`); an operator's name as written ("Office Llama").
    exc._reword(
        lambda name: f"The operator's endpoint {f'`{pid}`' if name == pid else name} {said}",
        advice,
        pid,
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
