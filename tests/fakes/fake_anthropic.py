"""A fake Anthropic Messages API.

Wire facts it reproduces (https://docs.anthropic.com/en/api/messages-streaming):
``POST /v1/messages``; the key in either ``x-api-key`` (SDK 0.x/1.x) or
``Authorization: Bearer`` (SDK 2.x), with an ``anthropic-version`` header required; the
system prompt as a top-level ``system`` field; named SSE events (``message_start`` with the
input usage, ``content_block_delta``, ``ping``, ``message_delta`` with the *cumulative*
output usage, ``message_stop``); ``input_tokens`` that exclude cache reads and writes;
errors as ``{"type": "error", "error": {"type", "message"}, "request_id"}``, 529
``overloaded_error``, and ``event: error`` inside a stream; key check ``GET /v1/models``;
and, for API version 2026-10-21 (SDK 2.x), a 400 for any
``temperature``/``top_p``/``top_k``; base64 image blocks checked as the API does (real
format matching ``media_type``, 5 MB and 8000 px per image, 100 images).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.images import SeenImage, decode_image
from tests.fakes.llm_script import Failure, FakeLLM, KeyState, Reply
from tests.fakes.loopback import RECORDED, Fault, RecordedRequest

__all__ = ["FakeAnthropic"]

_STOP = {"stop": "end_turn", "length": "max_tokens"}
NEW_API_VERSION = "2026-10-21"  # rejects temperature/top_p/top_k, even at defaults
# Vision limits (https://docs.anthropic.com/en/docs/build-with-claude/vision).
_MAX_IMAGE_BYTES = 5 * 1024 * 1024
_MAX_SIDE = 8000
_MAX_IMAGES = 100


class FakeAnthropic(FakeLLM):
    provider_id = "anthropic"
    key_prefix = "sk-ant-test-"
    default_models = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7")
    events_before_text = 3
    end_events = 2
    usage_fields: ClassVar[Mapping[str, str]] = {
        "input_tokens": "input_tokens",
        "output_tokens": "output_tokens",
    }

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.handle_messages)
        app.router.add_get("/v1/models", self.handle_models)

    @property
    def base_url(self) -> str:
        return self.url  # Anthropic's base has no /v1: the SDK adds it

    def key_of(self, recorded: RecordedRequest) -> str | None:
        return recorded.headers.get("x-api-key") or super().key_of(recorded)

    async def handle_messages(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        failure = self.auth_failure(recorded)
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        body = recorded.json()
        model = body.get("model", "")
        if "max_tokens" not in body:
            return self.json_response(
                self.error("invalid_request_error", "max_tokens: Field required"), 400
            )
        sampling = [p for p in ("temperature", "top_p", "top_k") if p in body]
        if sampling and recorded.headers.get("anthropic-version") == NEW_API_VERSION:
            return self.json_response(
                self.error(
                    "invalid_request_error", f"{sampling[0]}: Extra inputs are not permitted"
                ),
                400,
            )
        if model not in self.models:
            return self.json_response(self.error("not_found_error", f"model: {model}"), 404)
        refused = self.image_failure(body)
        if refused is not None:
            return self.json_response(self.error("invalid_request_error", refused), 400)
        reply = self.next_reply(recorded)
        served = self.served_model(reply, model)
        if body.get("stream"):
            return await self.respond_sse(request, self.stream_events(reply, served))
        return await self.respond_json(request, self.message(reply, served))

    def image_failure(self, body: Mapping[str, Any]) -> str | None:
        """Image blocks as the Messages API documents them (``source`` of ``type``
        ``base64`` with ``media_type`` and ``data``), at most 100 images a request, each at
        most 5 MB and 8000 px a side; the message of the real 400 otherwise."""
        seen: list[SeenImage] = []
        for m, message in enumerate(body.get("messages") or []):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for b, block in enumerate(content):
                where = f"messages.{m}.content.{b}"
                if not isinstance(block, dict) or block.get("type") not in ("text", "image"):
                    return f"{where}: Input tag does not match any of the expected tags"
                if block["type"] == "text":
                    continue
                source = block.get("source") or {}
                if source.get("type") != "base64":
                    return f"{where}.image.source: Input tag does not match expected tags"
                image = decode_image(str(source.get("data", "")), str(source.get("media_type")))
                if isinstance(image, str):
                    return f"{where}.image.source.base64: {image}"
                if image.size > _MAX_IMAGE_BYTES:
                    return f"{where}.image.source.base64: image exceeds 5 MB maximum"
                if max(image.width, image.height) > _MAX_SIDE:
                    return (
                        f"{where}.image.source.base64.data: At least one of the image "
                        f"dimensions exceed max allowed size: {_MAX_SIDE} pixels"
                    )
                seen.append(image)
        if len(seen) > _MAX_IMAGES:
            return f"Too many images: at most {_MAX_IMAGES} images per request"
        self.images_seen.extend(seen)
        return None

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        failure = self.auth_failure(request[RECORDED])
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        data = [
            {
                "id": m,
                "type": "model",
                "display_name": m.replace("-", " ").title(),
                "created_at": "2026-01-01T00:00:00Z",
            }
            for m in self.models
        ]
        return await self.respond_json(
            request,
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
        )

    # -- rendering ------------------------------------------------------------------------

    @staticmethod
    def usage(reply: Reply, *, output: int | None = None) -> dict[str, Any]:
        return {
            "input_tokens": reply.input_tokens - reply.cached_tokens - reply.cache_write_tokens,
            "cache_creation_input_tokens": reply.cache_write_tokens,
            "cache_read_input_tokens": reply.cached_tokens,
            "output_tokens": reply.output_tokens if output is None else output,
        }

    def message(self, reply: Reply, model: str) -> object:
        return {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": _STOP.get(reply.finish_reason, reply.finish_reason),
            "stop_sequence": None,
            "usage": self.with_wire_usage(reply, self.usage(reply)),
        }

    def stream_events(self, reply: Reply, model: str) -> list[bytes]:
        start = {
            "type": "message_start",
            "message": {
                "id": "msg_fake1",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": self.with_wire_usage(reply, self.usage(reply, output=1)),
            },
        }
        events = [
            self.sse(start, "message_start"),
            self.sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            ),
            self.sse({"type": "ping"}, "ping"),
        ]
        for piece in reply.pieces():
            events.append(
                self.sse(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                    "content_block_delta",
                )
            )
        events += [
            self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            self.sse(
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": _STOP.get(reply.finish_reason, reply.finish_reason),
                        "stop_sequence": None,
                    },
                    "usage": self.with_wire_usage(reply, {"output_tokens": reply.output_tokens}),
                },
                "message_delta",
            ),
            self.sse({"type": "message_stop"}, "message_stop"),
        ]
        return events

    # -- errors -------------------------------------------------------------------------

    @staticmethod
    def error(type_: str, message: str) -> object:
        return {
            "type": "error",
            "error": {"type": type_, "message": message},
            "request_id": "req_fake1",
        }

    def auth_failure(self, recorded: RecordedRequest) -> Failure | None:
        if not recorded.headers.get("anthropic-version"):
            return 400, self.error("invalid_request_error", "anthropic-version: header is required")
        return super().auth_failure(recorded)

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        if state is None:
            return 401, self.error("authentication_error", "invalid x-api-key")
        if state.status == "revoked":
            return 401, self.error("authentication_error", "This API key has been disabled.")
        if state.status in ("no_permission", "blocked"):
            return 403, self.error(
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            )
        if state.status == "no_credit":
            return 400, self.error(
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic "
                "API. Please go to Plans & Billing to upgrade or purchase "
                "credits.",
            )
        return None

    def error_body(self, status: int, fault: Fault) -> object:
        table = {
            400: ("invalid_request_error", "Invalid request."),
            401: ("authentication_error", "invalid x-api-key"),
            403: (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404: ("not_found_error", "Not found."),
            413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            429: (
                "rate_limit_error",
                "This request would exceed your account's rate limit. Please try again later.",
            ),
            529: ("overloaded_error", "Overloaded"),
        }
        type_, message = table.get(status, ("api_error", "Internal server error"))
        return self.error(type_, fault.message or message)

    def malformed_event(self) -> bytes:
        # Anthropic's SDK ignores events without a name, so the broken one keeps its name.
        return b'event: content_block_delta\ndata: {"broken": \n\n'

    def stream_error_event(self, fault: Fault) -> bytes:
        return self.sse(self.error("overloaded_error", fault.message or "Overloaded"), "error")
