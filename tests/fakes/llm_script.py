"""What every fake LLM provider can be told: its keys, its models and its next answers.

:class:`Reply` counts tokens the way :class:`byok.types.Usage` does (input includes cached
input, output includes reasoning); each fake renders those numbers in its own wire
convention, so a test that round-trips a Reply proves the provider code reads that
convention correctly.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from tests.fakes.images import SeenImage
from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest

__all__ = ["Failure", "FakeLLM", "KeyState", "Reply", "ReplyPolicy"]

KeyStatus = Literal["valid", "revoked", "blocked", "no_credit", "no_permission"]
Failure = tuple[int, object]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer."""

    text: str = "Hello from the fake."
    chunks: tuple[str, ...] | None = None
    model: str | None = None
    input_tokens: int = 11
    output_tokens: int = 6
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost: float | None = None
    finish_reason: str = "stop"
    #: Raw values sent in place of the reported figures, to play a provider whose usage
    #: is garbage (NaN, text, negative, absurd): keys ``input_tokens``, ``output_tokens``
    #: or ``cost``; each fake puts the value, unchanged, in the wire field that carries
    #: that figure (:attr:`FakeLLM.usage_fields`).
    wire_usage: Mapping[str, object] = field(default_factory=dict)

    def pieces(self) -> list[str]:
        """How the text is split across stream events (words, by default)."""
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass(slots=True)
class KeyState:
    """How the fake treats one key. Keys not registered at all are invalid."""

    status: KeyStatus = "valid"
    label: str = "test key"
    limit: float | None = None
    limit_remaining: float | None = None
    usage: float = 0.0


#: Chooses the answer to one request (None: the queued or default reply), so that a soak
#: can vary answers per request, as :data:`tests.fakes.loopback.FaultPolicy` varies faults.
ReplyPolicy = Callable[[RecordedRequest], Reply | None]


class FakeLLM(LoopbackServer):
    """Common ground of the provider fakes: keys, models, scripted replies."""

    provider_id = "fake"
    key_prefix = "sk-test-"
    default_models: tuple[str, ...] = ("fake-model",)
    #: Stream events sent before the first one carrying text (for cutting mid-answer).
    events_before_text = 0
    #: Where this wire carries each figure a Reply's ``wire_usage`` can replace.
    usage_fields: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, KeyState] = {}
        self.models: list[str] = list(self.default_models)
        self.replies: deque[Reply] = deque()
        self.default_reply = Reply()
        self.reply_policy: ReplyPolicy | None = None
        #: Accept requests without any key (a local endpoint such as Ollama).
        self.open_access = False
        #: Every image a request carried that the fake accepted, in order.
        self.images_seen: list[SeenImage] = []
        self.valid_key = self.add_key()

    @property
    def base_url(self) -> str:
        """What to configure as the provider's ``base_url`` (each fake's documented form)."""
        return self.url

    def add_key(self, key: str | None = None, **state: Any) -> str:
        """Register a key (a fresh random one by default) and return it."""
        key = key or self.key_prefix + secrets.token_hex(16)
        self.keys[key] = KeyState(**state)
        return key

    def reply(self, reply: Reply | None = None, **fields: Any) -> Reply:
        """Queue the next answer; with none queued the fake sends ``default_reply``."""
        queued = reply or Reply(**fields)
        self.replies.append(queued)
        return queued

    def next_reply(self, recorded: RecordedRequest | None = None) -> Reply:
        """The answer to ``recorded``: the reply policy's, else the next queued one."""
        if recorded is not None and self.reply_policy is not None:
            chosen = self.reply_policy(recorded)
            if chosen is not None:
                return chosen
        return self.replies.popleft() if self.replies else self.default_reply

    def with_wire_usage(self, reply: Reply, usage: dict[str, Any]) -> dict[str, Any]:
        """``usage`` (a wire usage object) with the reply's ``wire_usage`` values put in."""
        for figure, value in reply.wire_usage.items():
            usage[self.usage_fields[figure]] = value
        return usage

    def served_model(self, reply: Reply, requested: str) -> str:
        return reply.model or requested

    def key_of(self, recorded: RecordedRequest) -> str | None:
        """The key the client sent, by this service's auth convention."""
        auth = recorded.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None

    def key_state(self, recorded: RecordedRequest) -> KeyState | None:
        key = self.key_of(recorded)
        return self.keys.get(key) if key else None

    def auth_failure(self, recorded: RecordedRequest) -> Failure | None:
        """The error answer for this request's key, or None when the key may proceed."""
        key = self.key_of(recorded)
        if self.open_access and not key:
            return None
        return self.key_failure(self.keys.get(key) if key else None, key)

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        """How this service refuses a key: unknown (``state`` None), revoked, blocked..."""
        raise NotImplementedError

    def bad_key_fault(self) -> Fault:
        """The service's own answer to an invalid key, as a fault for any request."""
        failure = self.key_failure(None, self.key_prefix + "0000bad0000")
        assert failure is not None
        return Fault.http(failure[0], failure[1])

    @staticmethod
    def masked(key: str | None) -> str:
        """How real providers echo a key in error texts: the ends only."""
        if not key:
            return ""
        return f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"

    @staticmethod
    def sse(data: object, event: str | None = None, *, crlf: bool = False) -> bytes:
        end = "\r\n\r\n" if crlf else "\n\n"
        head = f"event: {event}\n" if event else ""
        payload = data if isinstance(data, str) else json.dumps(data)
        return f"{head}data: {payload}{end}".encode()
