"""A fake xAI API: OpenAI wire with xAI's differences.

Reproduced (https://docs.x.ai/docs/api-reference, and xAI's answers as recorded):
a bad key answered with **HTTP 400** and a *string* ``error`` (``{"code": "Client
specified an invalid argument", "error": "Incorrect API key provided: xa***cd. ..."}``);
every error body in that string form; stream chunks that omit ``finish_reason`` and carry
``reasoning_content``; usage whose ``total_tokens`` is prompt + completion + reasoning
(reasoning outside ``completion_tokens``); ``GET /v1/api-key`` reporting
``api_key_blocked`` / ``api_key_disabled`` / ``team_blocked``. Exact xAI error wrappers are
not documented; these follow the ones xAI was seen to send.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.llm_script import Failure, KeyState, Reply
from tests.fakes.loopback import RECORDED, Fault

__all__ = ["FakeXAI"]


class FakeXAI(FakeOpenAI):
    provider_id = "xai"
    key_prefix = "xai-test-"
    prefix = "/v1"
    default_models = ("grok-4.3", "grok-4.20-non-reasoning", "grok-4.6")
    events_before_text = 1

    def setup_routes(self, app: web.Application) -> None:
        super().setup_routes(app)
        app.router.add_get(f"{self.prefix}/api-key", self.handle_api_key)

    async def handle_api_key(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        key = self.key_of(recorded)
        state = self.keys.get(key) if key else None
        if state is None:
            failure = self.key_failure(None, key)
            assert failure is not None
            return self.json_response(failure[1], failure[0])
        return await self.respond_json(
            request,
            {
                "redacted_api_key": self.masked(key),
                "user_id": "user-fake",
                "name": state.label,
                "team_id": "team-fake",
                "create_time": "2026-01-01T00:00:00Z",
                "modify_time": "2026-01-01T00:00:00Z",
                "acls": ["api-key:model:*", "api-key:endpoint:*"],
                "api_key_id": "key-fake",
                "team_blocked": False,
                "api_key_blocked": state.status == "blocked",
                "api_key_disabled": state.status == "revoked",
            },
        )

    def usage(self, reply: Reply) -> dict[str, Any]:
        completion = reply.output_tokens - reply.reasoning_tokens
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.input_tokens + completion + reply.reasoning_tokens,
            "prompt_tokens_details": {
                "text_tokens": reply.input_tokens,
                "cached_tokens": reply.cached_tokens,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
            "completion_tokens_details": {
                "reasoning_tokens": reply.reasoning_tokens,
                "audio_tokens": 0,
            },
            "num_sources_used": 0,
        }

    def stream_events(self, reply: Reply, model: str, with_usage: bool) -> list[bytes]:
        events = [self.sse(self.chunk(model, [{"index": 0, "delta": {"role": "assistant"}}]))]
        if reply.reasoning_tokens:
            events.append(
                self.sse(
                    self.chunk(model, [{"index": 0, "delta": {"reasoning_content": "Thinking..."}}])
                )
            )
        for piece in reply.pieces():
            events.append(self.sse(self.chunk(model, [{"index": 0, "delta": {"content": piece}}])))
            events.append(self.sse(self.chunk(model, [{"index": 0, "delta": {}}])))
        if with_usage:
            usage = self.with_wire_usage(reply, self.usage(reply))
            events.append(self.sse(self.chunk(model, [], usage)))
        events.append(self.sse("[DONE]"))
        return events

    @staticmethod
    def xai_error(code: str, message: str) -> object:
        return {"code": code, "error": message}

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        if state is None:
            return 400, self.xai_error(
                "Client specified an invalid argument",
                f"Incorrect API key provided: {self.masked(key)}. You can obtain an API key "
                "from https://console.x.ai.",
            )
        denied = "The caller does not have permission to execute the specified operation"
        if state.status == "revoked":
            return 403, self.xai_error(denied, "The API key has been disabled.")
        if state.status == "blocked":
            return 403, self.xai_error(denied, "The API key has been blocked.")
        if state.status == "no_permission":
            return 403, self.xai_error(denied, "The API key lacks the acl for this endpoint.")
        if state.status == "no_credit":
            return 429, self.xai_error(
                "Some resource has been exhausted",
                "Your team team-fake has either used all available credits or reached its "
                "monthly spending limit. To continue making API requests, please purchase "
                "more credits or raise your spending limit.",
            )
        return None

    def unknown_model(self, model: str) -> Failure:
        return 404, self.xai_error(
            "Some requested entity was not found",
            f"The model {model} does not exist or your team team-fake does not have access to it.",
        )

    def error_body(self, status: int, fault: Fault) -> object:
        table = {
            400: ("Client specified an invalid argument", "Invalid request content."),
            401: ("Unauthenticated", "Incorrect API key provided."),
            403: (
                "The caller does not have permission to execute the specified operation",
                "Permission denied.",
            ),
            429: ("Some resource has been exhausted", "Too many requests, slow down."),
        }
        code, message = table.get(status, ("Internal error", "Service temporarily unavailable."))
        return self.xai_error(code, fault.message or message)

    def stream_error_event(self, fault: Fault) -> bytes:
        return self.sse({"error": fault.message or "Internal error", "code": "Internal error"})
