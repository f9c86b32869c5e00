"""Every request to ``/slack/events`` is checked here before slack-bolt sees it.

Bolt trusts what it is given: a non-numeric timestamp header, a body that is not UTF-8, a
``payload`` that is not JSON (or is JSON but not an object), or a field of the wrong type
each raise deep inside it or inside a listener, and become a 500 with a traceback in the
log. Here they become a :class:`Refusal` (400 or 401) naming the problem instead: the
signature first, so that a stranger learns nothing about the payload rules, then the
shape of the payload, as far as the listeners read it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_content_type, parse_body
from slack_sdk.signature import SignatureVerifier

__all__ = ["Refusal", "checked_request"]

# Seconds since 1970: digits only, and few enough that int() is cheap and cannot fail.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refusal(Exception):
    """A request answered ``status`` without reaching bolt; ``kind`` names it for the log."""

    def __init__(self, status: int, kind: str, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.kind = kind
        self.problem = problem


class _Shape(BaseModel):
    """Only the fields the listeners read are checked; anything else may come along."""

    model_config = ConfigDict(extra="allow", strict=True)


class _Ref(_Shape):
    id: str


class _Option(_Shape):
    value: str | None = None


class _Action(_Shape):
    action_id: str  # bolt's matchers index it
    value: str | None = None
    selected_option: _Option | None = None


class _Element(_Shape):
    type: str | None = None
    value: str | None = None
    selected_option: _Option | None = None


class _State(_Shape):
    values: dict[str, dict[str, _Element]]


class _View(_Shape):
    id: str
    callback_id: str | None = None
    private_metadata: str | None = None
    state: _State | None = None

    @field_validator("private_metadata")
    @classmethod
    def _object_or_empty(cls, value: str | None) -> str | None:
        if value and not isinstance(json.loads(value), dict):
            raise ValueError("private_metadata is not a JSON object")
        return value


class _Event(_Shape):
    type: str
    user: str | None = None
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    text: str | None = None
    files: list[dict[str, Any]] | None = None


class _Interaction(_Shape):
    team: _Ref | None = None
    user: _Ref
    trigger_id: str | None = None
    response_url: str | None = None


class _BlockActions(_Interaction):
    type: Literal["block_actions"]
    actions: Annotated[list[_Action], Field(min_length=1)]


class _ViewSubmission(_Interaction):
    type: Literal["view_submission", "view_closed"]
    view: _View


class _MessageAction(_Interaction):
    type: Literal["message_action"]
    channel: _Ref
    message: dict[str, Any] | None = None


class _OtherInteraction(_Interaction):
    type: Literal["shortcut", "block_suggestion"]


class _EventCallback(_Shape):
    type: Literal["event_callback"]
    team_id: str | None = None
    event: _Event


class _Envelope(_Shape):
    """Any other type (url_verification, app_rate_limited): bolt answers or refuses it."""

    type: str


_Payload = TypeAdapter[Any](
    Annotated[
        _BlockActions | _ViewSubmission | _MessageAction | _OtherInteraction | _EventCallback,
        Field(discriminator="type"),
    ]
)
#: The types the listeners handle, whose fields are checked (the union's discriminators).
_LISTENED = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "event_callback",
        "message_action",
        "shortcut",
        "view_closed",
        "view_submission",
    }
)


class _SlashCommand(_Shape):
    command: str
    user_id: str
    channel_id: str


def checked_request(
    raw: bytes, headers: Mapping[str, str], query: str, signing_secret: str
) -> AsyncBoltRequest:
    """The bolt request for ``raw``, or :class:`Refusal` saying what is wrong with it."""
    stamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not stamp or not signature:
        raise Refusal(401, "unsigned", "it has no X-Slack-Signature or timestamp header")
    if not _TIMESTAMP.fullmatch(stamp):
        raise Refusal(401, "bad_timestamp", "its X-Slack-Request-Timestamp is not a number")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "not_utf8", "its body is not UTF-8") from None
    if not SignatureVerifier(signing_secret).is_valid(body, stamp, signature):
        raise Refusal(
            401,
            "bad_signature",
            "its signature does not match [slack] signing_secret (SLACK_SIGNING_SECRET), "
            "or its timestamp is more than 5 minutes from this machine's clock",
        )
    content_type = extract_content_type({k.lower(): [v] for k, v in headers.items()})
    _check_payload(body, content_type)
    try:
        return AsyncBoltRequest(body=body, query=query, headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise Refusal(
            400, "malformed_payload", f"bolt could not read it ({type(exc).__name__})"
        ) from None


def _check_payload(body: str, content_type: str | None) -> None:
    try:
        parsed = parse_body(body, content_type)
    except ValueError:
        raise Refusal(400, "malformed_payload", "its payload is not JSON") from None
    if not isinstance(parsed, dict):
        raise Refusal(400, "malformed_payload", "its payload is not a JSON object")
    if "command" in parsed:
        _validate(_SlashCommand, parsed)
    elif "type" not in parsed:
        if "ssl_check" not in parsed:  # Slack's certificate check needs no more
            raise Refusal(400, "malformed_payload", "its payload has no type")
    elif isinstance(parsed["type"], str) and parsed["type"] in _LISTENED:
        _validate(_Payload, parsed)
    else:
        _validate(_Envelope, parsed)


def _validate(shape: type[_Shape] | TypeAdapter[Any], parsed: dict[str, Any]) -> None:
    try:
        if isinstance(shape, TypeAdapter):
            shape.validate_python(parsed)
        else:
            shape.model_validate(parsed)
    except (ValidationError, ValueError) as exc:
        raise Refusal(
            400, "malformed_payload", f"its payload is malformed: {_where(exc)}"
        ) from None


def _where(exc: ValueError) -> str:
    """The first problem's location and kind, never the values sent."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"{where}: {first['type']}"
    return "a field could not be read"
