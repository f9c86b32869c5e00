"""Secrets never surface: key-shaped strings are recognised and masked in logs."""

from __future__ import annotations

import logging
import secrets

import pytest

from byok.secret import RedactingFilter, Secret, looks_like_key, mask, redact


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
