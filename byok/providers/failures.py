"""One vocabulary for classifying provider failures.

Every provider module translates its SDK's exceptions in one ``_translate`` function; the
helpers here are what those functions share: reading ``Retry-After``, telling a revoked or
blocked key from a mistyped one, and mapping an HTTP status plus the provider's error body
onto :mod:`byok.errors`. A provider's error body is read here only to *classify* the
failure. Nothing of it is copied into an error: the ``what`` texts below are fixed phrases.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from byok.errors import (
    BadRequestError,
    InvalidKeyError,
    KeyProblem,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownModelError,
)
from byok.remedies import ChooseMaxTokens, ChooseModel

__all__ = [
    "CONNECTION_LOST",
    "MAX_IN_PLACE_WAIT_S",
    "UNREACHABLE",
    "UNREADABLE",
    "ErrorDetail",
    "error_for_status",
    "error_in_stream",
    "key_problem",
    "retry_after_seconds",
    "timed_out",
    "waits_too_long",
]

UNREACHABLE = "could not connect"
#: The longest Retry-After an SDK may wait out in place. Longer waits are the router's
#: business (fall back, or tell the user when to try again), not a request left hanging.
MAX_IN_PLACE_WAIT_S = 10.0
UNREADABLE = "its response could not be read"
CONNECTION_LOST = "the connection was lost"


def timed_out(seconds: float) -> str:
    """The ``what`` of a timeout, naming the configured limit."""
    return f"no answer within {seconds:g} s"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """The parts of a provider's error body used to classify it (never shown to users)."""

    message: str = ""
    code: str = ""
    type: str = ""
    status: str = ""

    @classmethod
    def from_body(cls, body: object) -> ErrorDetail:
        """Read every error shape our providers send.

        ``{"error": {"message", "type", "code"}}`` (OpenAI, OpenRouter with a numeric
        code), ``{"type": "error", "error": {...}}`` (Anthropic), ``{"error": {"code",
        "message", "status"}}`` (Gemini), ``{"code": "...", "error": "text"}`` (xAI, whose
        ``error`` is a plain string), or an already unwrapped inner object.
        """
        if not isinstance(body, Mapping):
            return cls(message=body if isinstance(body, str) else "")
        inner = body.get("error")
        if isinstance(inner, Mapping):
            source: Mapping[object, object] = inner
        elif isinstance(inner, str):
            return cls(message=inner, code=_text(body.get("code")))
        else:
            source = body
        return cls(
            message=_text(source.get("message")),
            code=_text(source.get("code")),
            type=_text(source.get("type")),
            status=_text(source.get("status")),
        )

    @property
    def text(self) -> str:
        """Everything, lower-cased, for keyword classification."""
        return " ".join((self.message, self.code, self.type, self.status)).lower()


def _text(value: object) -> str:
    return "" if value is None else str(value)


def waits_too_long(headers: Mapping[str, str] | None) -> bool:
    """Whether a response asks for a longer wait than an SDK may spend retrying in place."""
    wait = retry_after_seconds(headers)
    return wait is not None and wait > MAX_IN_PLACE_WAIT_S


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the provider asked us to wait: ``retry-after-ms``, then ``retry-after``."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) / divisor
        except ValueError:
            parsed = email.utils.parsedate_tz(raw)
            if parsed is None:
                continue
            value = email.utils.mktime_tz(parsed) - time.time()
        if math.isfinite(value) and value >= 0:
            return value
    return None


_REVOKED = re.compile(r"revok|deactivat|disabled|expired|deleted")
_BLOCKED = re.compile(r"block|suspend|banned|forbidden for this key")
_BAD_KEY = re.compile(
    r"invalid_api_key|api_key_invalid|(api|x-api)[ _-]?key.{0,40}"
    r"(invalid|incorrect|not valid|expired|revoked|disabled|blocked)"
    r"|\b(invalid|incorrect|missing|no) (api )?key\b|user not found|no auth credentials"
)
_UNKNOWN_MODEL = re.compile(
    r"model_not_found|not a valid model|(unknown|no such|invalid) model"
    r"|model.{0,80}(does not exist|not found|is not supported|not available)"
    r"|models/\S+ is not found"
)
_NO_CREDIT = re.compile(
    r"insufficient_quota|insufficient credits|credit balance|out of credits|"
    r"(any|no|all available) credits|spending limit|billing|payment required|"
    r"key limit exceeded|(specified|api) usage limits?|prepayment credits|credits are depleted"
)
# Structured codes that settle a 429 as rate limiting, whatever its message says
# (OpenAI's free-tier rate-limit message links the billing page).
_RATE_LIMIT_CODE = re.compile(r"rate_limit")
_CONTEXT = re.compile(
    r"context_length_exceeded|context length|context window|prompt is too long"
    r"|too many (input )?tokens|maximum.{0,30}tokens"
)
_MODERATION = re.compile(r"moderation|flagged")
_OUTPUT_CAP = re.compile(r"max_tokens: \d+ >|max_tokens.{0,40}too large|output tokens")
_NO_ENDPOINTS = re.compile(r"no endpoints found")


def key_problem(detail: ErrorDetail) -> KeyProblem:
    """Why a key was refused, judged from the provider's own words."""
    text = detail.text
    if _REVOKED.search(text):
        return "revoked"
    if _BLOCKED.search(text):
        return "blocked"
    return "invalid"


def error_for_status(
    provider_id: str,
    status: int,
    detail: ErrorDetail,
    *,
    headers: Mapping[str, str] | None = None,
    model_id: str | None = None,
) -> ProviderError:
    """The error an HTTP error status means, refined by the provider's error body."""
    text = detail.text
    if status == 401:
        return InvalidKeyError(provider_id, key_problem(detail), model_id=model_id)
    if status == 402:
        return ProviderQuotaError(provider_id, model_id=model_id)
    if status == 403:
        if _NO_CREDIT.search(text):
            return ProviderQuotaError(provider_id, model_id=model_id)
        if _MODERATION.search(text):
            return BadRequestError(
                provider_id, "its moderation flagged the input", model_id=model_id
            )
        problem = key_problem(detail)
        return InvalidKeyError(
            provider_id, problem if problem != "invalid" else "no_permission", model_id=model_id
        )
    if status == 404:
        if _NO_ENDPOINTS.search(text) and "data policy" in text:  # OpenRouter
            return BadRequestError(
                provider_id,
                "no provider of this model matches your data policy; change it in "
                "OpenRouter's privacy settings or pick another model",
                model_id=model_id,
            )
        if _NO_ENDPOINTS.search(text):  # OpenRouter: nobody serves it right now
            return ProviderUnavailableError(
                provider_id, "no provider serves this model right now", model_id=model_id
            )
        if model_id is not None and "model" in text:
            return UnknownModelError(provider_id, model_id)
        return ProviderUnavailableError(
            provider_id, "the endpoint was not found; check its base_url", model_id=model_id
        )
    if status == 429:
        if _RATE_LIMIT_CODE.search(f"{detail.code} {detail.type}".lower()):
            return RateLimitedError(provider_id, retry_after_seconds(headers), model_id=model_id)
        if _NO_CREDIT.search(text):
            return ProviderQuotaError(provider_id, model_id=model_id)
        return RateLimitedError(provider_id, retry_after_seconds(headers), model_id=model_id)
    if status >= 500 or status in (408, 409):
        what = "overloaded" if status == 529 else f"server error {status}"
        return ProviderUnavailableError(provider_id, what, model_id=model_id)
    return _bad_request(provider_id, status, detail, model_id)


def _bad_request(
    provider_id: str, status: int, detail: ErrorDetail, model_id: str | None
) -> ProviderError:
    text = detail.text
    if _BAD_KEY.search(text):
        return InvalidKeyError(provider_id, key_problem(detail), model_id=model_id)
    if _NO_CREDIT.search(text):
        return ProviderQuotaError(provider_id, model_id=model_id)
    if model_id is not None and _UNKNOWN_MODEL.search(text):
        return UnknownModelError(provider_id, model_id)
    if "verified to stream" in text:  # OpenAI, for some models, until the org is verified
        return BadRequestError(
            provider_id,
            "your organization must be verified to stream this model",
            model_id=model_id,
            advice=lambda name: (
                f"Verify it in the {name} console's organization settings, or ask with another ",
                ChooseModel(),
                ".",
            ),
        )
    if _OUTPUT_CAP.search(text):
        return BadRequestError(
            provider_id,
            "the token limit asked for is more than this model can write",
            model_id=model_id,
            advice=("Ask with a lower ", ChooseMaxTokens(), "."),
        )
    if _CONTEXT.search(text):
        return BadRequestError(
            provider_id, "the conversation is too long for this model", model_id=model_id
        )
    if "temperature" in text:
        return BadRequestError(
            provider_id,
            "this model does not accept a temperature; ask again without one",
            model_id=model_id,
        )
    if status == 413:
        return BadRequestError(provider_id, "the request is too large", model_id=model_id)
    if _MODERATION.search(text):
        return BadRequestError(provider_id, "its moderation flagged the input", model_id=model_id)
    return BadRequestError(
        provider_id, f"the request was not accepted (HTTP {status})", model_id=model_id
    )


_TYPE_STATUS = {
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "requests": 429,
    "tokens": 429,
    "insufficient_quota": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "authentication_error": 401,
    "permission_error": 403,
    "invalid_request_error": 400,
}


def error_in_stream(
    provider_id: str, detail: ErrorDetail, *, model_id: str | None = None
) -> ProviderError:
    """An error the provider sent inside a stream that had already answered 200.

    OpenRouter puts the would-be HTTP status in ``error.code``; OpenAI and Anthropic name
    a type. Anything unrecognised counts as the provider being unavailable.
    """
    status = int(detail.code) if detail.code.isdigit() else 0
    if not status:
        status = _TYPE_STATUS.get(detail.type) or _TYPE_STATUS.get(detail.code) or 0
    if status >= 400:
        return error_for_status(provider_id, status, detail, model_id=model_id)
    return ProviderUnavailableError(
        provider_id, "it reported an error during the answer", model_id=model_id
    )
