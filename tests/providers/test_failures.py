"""The shared classification helpers, on the error shapes the providers send."""

from __future__ import annotations

import email.utils
import time

import pytest

from bot.commands.table import COMMAND_HINTS
from byok.errors import (
    BadRequestError,
    InvalidKeyError,
    ProviderQuotaError,
    ProviderUnavailableError,
    RateLimitedError,
    UnknownModelError,
)
from byok.providers.failures import (
    ErrorDetail,
    error_for_status,
    error_in_stream,
    key_problem,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        (
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "Incorrect API key",
            "invalid_api_key",
        ),
        ({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, "slow", ""),
        (
            {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}},
            "API key not valid.",
            "400",
        ),
        (
            {"code": "Client specified an invalid argument", "error": "Incorrect API key provided"},
            "Incorrect API key provided",
            "Client specified an invalid argument",
        ),
        ({"message": "unwrapped", "code": "x"}, "unwrapped", "x"),
        ("plain text body", "plain text body", ""),
        (None, "", ""),
    ],
)
def test_error_detail_reads_every_shape(body: object, message: str, code: str) -> None:
    detail = ErrorDetail.from_body(body)

    assert (detail.message, detail.code) == (message, code)


def test_retry_after_prefers_milliseconds_then_seconds_then_a_date() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "7"}) == 7.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = retry_after_seconds({"retry-after": date})
    assert wait is not None and 25 < wait <= 31
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("invalid x-api-key", "invalid"),
        ("API key expired. Please renew the API key.", "revoked"),
        ("The API key has been disabled.", "revoked"),
        ("The API key sk-...abcd has been deactivated.", "revoked"),
        ("Requests to this API ... are blocked.", "blocked"),
    ],
)
def test_key_problem(message: str, problem: str) -> None:
    assert key_problem(ErrorDetail(message=message)) == problem


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"error": {"message": "User not found.", "code": 401}}, InvalidKeyError),
        (400, {"code": "x", "error": "Incorrect API key provided: xa***cd."}, InvalidKeyError),
        (402, {"error": {"code": 402, "message": "Insufficient credits"}}, ProviderQuotaError),
        (
            429,
            {
                "error": {
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                    "message": "You exceeded your current quota",
                }
            },
            ProviderQuotaError,
        ),
        (
            429,
            {
                "error": {
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                    "message": "Rate limit reached",
                }
            },
            RateLimitedError,
        ),
        (
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "Your credit balance is too low",
                },
            },
            ProviderQuotaError,
        ),
        (
            404,
            {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}},
            UnknownModelError,
        ),
        (404, {"error": {"message": "Not Found"}}, ProviderUnavailableError),
        (400, {"error": {"code": 400, "message": "x is not a valid model ID"}}, UnknownModelError),
        (
            413,
            {"type": "error", "error": {"type": "request_too_large", "message": "big"}},
            BadRequestError,
        ),
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ProviderUnavailableError,
        ),
        (422, {}, BadRequestError),
        # OpenAI's free-tier rate limit links the billing page: still a rate limit.
        (
            429,
            {
                "error": {
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                    "message": "Rate limit reached for gpt-5.6-terra on requests per min "
                    "(RPM): Limit 3. Add a payment method at "
                    "https://platform.openai.com/account/billing to increase your limits.",
                }
            },
            RateLimitedError,
        ),
        # OpenRouter's own per-key limit (gptme#1449): spent, not a broken key.
        (
            403,
            {"error": {"message": "Key limit exceeded (monthly limit). Manage it using "
                       "https://openrouter.ai/settings/keys", "code": 403}},
            ProviderQuotaError,
        ),
        # Anthropic's workspace spend cap (claude-code#38035).
        (
            400,
            {"type": "error", "error": {"type": "invalid_request_error",
             "message": "You have reached your specified API usage limits. You will regain "
                        "access on 2026-12-01 at 00:00 UTC."}},
            ProviderQuotaError,
        ),
    ],
)  # fmt: skip
def test_error_for_status(status: int, body: object, error: type) -> None:
    err = error_for_status("p", status, ErrorDetail.from_body(body), model_id="x")

    assert type(err) is error
    assert err.provider_id == "p"


def test_error_messages_never_copy_the_provider_body() -> None:
    body = {"error": {"message": "secret-ish provider text sk-abc123", "code": 400}}

    err = error_for_status("p", 400, ErrorDetail.from_body(body), model_id="m")

    assert "secret-ish" not in str(err) and "secret-ish" not in COMMAND_HINTS.error_text(err)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"error": {"code": 502, "message": "Provider returned error"}}, ProviderUnavailableError),
        ({"error": {"code": 429, "message": "Rate limit"}}, RateLimitedError),
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "x"}},
            ProviderUnavailableError,
        ),
        ({"error": "something broke"}, ProviderUnavailableError),
    ],
)
def test_error_in_stream(body: object, error: type) -> None:
    assert type(error_in_stream("p", ErrorDetail.from_body(body))) is error


def test_a_403_for_one_model_is_no_reason_to_replace_the_key() -> None:
    body = {"error": {"message": "You are not allowed to sample from this model",
                      "type": "invalid_request_error", "code": None}}  # fmt: skip
    err = error_for_status("openai", 403, ErrorDetail.from_body(body), model_id="o9-pro")
    assert isinstance(err, InvalidKeyError) and err.reason == "no_permission"
    assert "Check its permissions in the openai console" in COMMAND_HINTS.error_text(err)


@pytest.mark.parametrize(
    ("status", "message", "error", "says"),
    [
        (400, "max_tokens: 100000 > 64000, which is the maximum allowed number of output "
              "tokens for claude-sonnet-4-6", BadRequestError, "the token limit asked for is more than"),
        (404, "No endpoints found for meta-llama/llama-3.3-70b-instruct:free.",
         ProviderUnavailableError, "no provider serves this model right now"),
        (404, "No endpoints found matching your data policy (Free model publication).",
         BadRequestError, "matches your data policy"),
        (400, "Your organization must be verified to stream this model. Please go to: "
              "https://platform.openai.com/settings/organization/general and click on "
              "Verify Organization.", BadRequestError, "must be verified to stream this model"),
    ],
)  # fmt: skip
def test_what_went_wrong_is_named(status: int, message: str, error: type, says: str) -> None:
    body = {"error": {"message": message, "code": status}}
    err = error_for_status("p", status, ErrorDetail.from_body(body), model_id="m")
    assert type(err) is error and says in COMMAND_HINTS.error_text(err)
