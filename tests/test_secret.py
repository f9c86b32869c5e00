"""Secrets never surface: key-shaped strings are recognised and masked in logs."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from urllib.parse import quote, quote_plus, urlencode

import pytest

from byok.secret import (
    RedactingFilter,
    Secret,
    SecretRegistry,
    looks_like_key,
    mask,
    redact,
    remember_secret,
)


def canaries() -> list[str]:
    token = secrets.token_hex(24)
    return [
        "sk-" + token,
        "sk-proj-" + token,
        "sk-ant-api03-" + token,
        "sk-or-v1-" + token,
        "AIza" + token[:35],
        "xai-" + token,
        "xoxb-1234-5678-" + token[:24],
        "xapp-1-A111-" + token[:24],
        "MTA" + token[:23] + ".GhIjKl." + token[:30],
    ]


@pytest.mark.parametrize("canary", canaries())
def test_key_shapes_are_recognised_and_redacted(canary: str) -> None:
    text = f"please use {canary} for this"
    assert looks_like_key(text)
    assert canary not in redact(text)
    assert "[redacted]" in redact(text)


def test_ordinary_text_is_left_alone() -> None:
    text = "Ask about the sk-learn task and the xai team's plans"
    assert not looks_like_key(text)
    assert redact(text) == text


def test_mask_shows_prefix_and_last_four() -> None:
    assert mask("sk-abcdefghijklmnop1234") == "sk-…1234"
    assert mask("AIzaSyabcdefghijklmn5678").endswith("…5678")
    assert Secret("xai-abcdefghijkl9999").masked == "xai-…9999"


def test_log_filter_masks_messages_args_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    master = "correct-horse-battery-staple"
    literal_filter = RedactingFilter([master])
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(literal_filter)
    keys = canaries()
    logger.warning("key %s and master %s", keys[0], master)
    try:
        raise RuntimeError(f"provider said: bad key {keys[2]}")
    except RuntimeError:
        logger.exception("call failed for %s", keys[5])
    output = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "provider said" in output
    for value in (keys[0], keys[2], keys[5], master):
        assert value not in output


def canary_with_separators() -> str:
    """A key shaped like no vendor's, holding the characters encoders change."""
    return secrets.token_urlsafe(18) + "+/" + secrets.token_urlsafe(18) + "/+="


def _json_unicode(value: str) -> str:
    return "".join(c if c.isalnum() else f"\\u{ord(c):04X}" for c in value)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "raw": lambda v: v,
    "quote": quote,
    "quote safe=''": lambda v: quote(v, safe=""),
    "quote_plus": quote_plus,
    "quoted twice": lambda v: quote(quote(v, safe=""), safe=""),
    "JSON": lambda v: json.dumps(v)[1:-1],
    "JSON, escaped slashes": lambda v: json.dumps(v)[1:-1].replace("/", "\\/"),
    "JSON \\u escapes": _json_unicode,
    "JSON in a form body": lambda v: urlencode(
        {"payload": json.dumps({"v": v.replace("/", "\\/")})}
    ),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("prefix", ["", "sk-proj-", "sk-ant-api03-"])
def test_a_key_met_is_masked_in_every_encoding(prefix: str, encoding: str) -> None:
    key = prefix + canary_with_separators()
    Secret(key)  # every key the process decrypts, checks or receives becomes one
    encoded = ENCODINGS[encoding](key)

    redacted = redact(f"said: {encoded} (end)")

    assert redacted.startswith("said: ") and redacted.endswith(" (end)")
    assert "[redacted]" in redacted
    body = key[len(prefix) :]
    for piece in (body, *(p for p in re.split(r"[+/=_-]+", body) if len(p) >= 6)):
        assert piece not in redacted
    if encoding == "raw":
        assert redacted == "said: [redacted] (end)"
        assert redact(f"said: {body} (end)") == "said: [redacted] (end)"  # prefix-less


def test_configured_secrets_are_masked_encoded_too() -> None:
    signing_secret = secrets.token_hex(16)  # shaped like nothing
    passphrase = "+".join(secrets.token_hex(3) for _ in range(5))  # no long run to find it by
    for value in (signing_secret, passphrase):
        remember_secret(value)
        assert (
            redact(f"x={quote_plus(value)}&y={json.dumps(value)}") == 'x=[redacted]&y="[redacted]"'
        )


def test_short_values_and_documents_are_not_remembered() -> None:
    registry = SecretRegistry()
    registry.add("abc1234")  # shorter than any key: an ordinary word would go too
    registry.add("x" * 2000)
    assert len(registry) == 0
    document = json.dumps({"bot_token": "b" * 30, "team": "T1"})
    Secret(document)  # a sealed installation, not a key: its keys are remembered apart
    assert redact(f"team {json.dumps('T1')} and {'b' * 20}") == f'team "T1" and {"b" * 20}'


def test_the_least_recently_met_secret_is_forgotten_first() -> None:
    registry = SecretRegistry(capacity=2)
    first, second, third = (canary_with_separators() for _ in range(3))
    for value in (first, second, first, third):  # meeting the first again keeps it
        registry.add(value)
    assert len(registry) == 2
    assert registry.redact(f"{first} {second} {third}") == f"[redacted] {second} [redacted]"


def test_ordinary_text_stays_readable_among_many_secrets() -> None:
    registry = SecretRegistry()
    for _ in range(200):
        registry.add("sk-proj-" + secrets.token_urlsafe(40))
    text = "POST https://api.openai.com/v1/chat/completions 200 (312 ms); tokens in 1234"
    assert registry.redact(text) == text


def test_a_key_glued_to_another_keys_prefix_is_masked_whole() -> None:
    token = secrets.token_hex(12)
    for glued in (f"xai-abcsk-proj-{token}", f"sk-sk-ant-api03-{token}"):
        assert redact(f"see {glued} here") == "see [redacted] here"
