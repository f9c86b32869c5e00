"""A fake OpenRouter API: OpenAI wire with OpenRouter's additions.

Reproduced (https://openrouter.ai/docs: api-reference/streaming, errors, usage-accounting):
base path ``/api/v1``; ``: OPENROUTER PROCESSING`` SSE comment lines before and between
events; chunks with ``provider`` and ``native_finish_reason``; usage with ``cost``,
``is_byok``, ``cached_tokens`` and ``cache_write_tokens``; the *served* model in ``model``
(``openrouter/auto`` is answered by a concrete model); errors
``{"error": {"code": <status>, "message": ...}}`` with the status equal to ``code``: 401
bad key, 402 no credit, 429, 502, 503; an error event with ``finish_reason: "error"``
inside a 200 stream; ``GET /api/v1/key`` with ``limit`` and ``limit_remaining``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.llm_script import Failure, KeyState, Reply
from tests.fakes.loopback import RECORDED, Fault

__all__ = ["FakeOpenRouter"]

AUTO_SERVED = "openai/gpt-5.6-terra-2026-05-01"
PROCESSING = b": OPENROUTER PROCESSING\n\n"


class FakeOpenRouter(FakeOpenAI):
    provider_id = "openrouter"
    key_prefix = "sk-or-v1-test"
    prefix = "/api/v1"
    default_models = (
        "openrouter/auto",
        "openai/gpt-5.6-terra",
        "anthropic/claude-sonnet-4.6",
        "google/gemini-3.5-flash",
    )
    events_before_text = 4
    usage_fields: ClassVar[Mapping[str, str]] = {**FakeOpenAI.usage_fields, "cost": "cost"}

    def setup_routes(self, app: web.Application) -> None:
        super().setup_routes(app)
        app.router.add_get(f"{self.prefix}/key", self.handle_key)

    def served_model(self, reply: Reply, requested: str) -> str:
        if reply.model:
            return reply.model
        return AUTO_SERVED if requested == "openrouter/auto" else requested

    async def handle_key(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        key = self.key_of(recorded)
        state = self.keys.get(key) if key else None
        if state is None or state.status in ("revoked", "blocked"):
            failure = self.key_failure(state, key)
            assert failure is not None
            return self.json_response(failure[1], failure[0])
        remaining = state.limit_remaining
        if state.status == "no_credit" and state.limit is not None and remaining is None:
            remaining = 0.0
        return await self.respond_json(
            request,
            {
                "data": {
                    "label": state.label,
                    "limit": state.limit,
                    "limit_remaining": remaining,
                    "limit_reset": None,
                    "usage": state.usage,
                    "usage_daily": 0,
                    "usage_weekly": 0,
                    "usage_monthly": state.usage,
                    "is_free_tier": False,
                    "expires_at": None,
                }
            },
        )

    def model_list(self) -> object:
        return {"data": [{"id": m, "name": m, "context_length": 200_000} for m in self.models]}

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "cost": reply.cost if reply.cost is not None else 0.00012,
            "is_byok": False,
            "prompt_tokens_details": {
                "cached_tokens": reply.cached_tokens,
                "cache_write_tokens": reply.cache_write_tokens,
            },
            "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        }

    def chunk(
        self, model: str, choices: list[dict[str, Any]], usage: object = None
    ) -> dict[str, Any]:
        body = super().chunk(model, choices, usage)
        body["provider"] = "OpenAI"
        body["id"] = "gen-fake1"
        return body

    def stream_events(self, reply: Reply, model: str, with_usage: bool) -> list[bytes]:
        events = super().stream_events(reply, model, with_usage)
        # Comment lines first and between events, as OpenRouter keeps the stream alive.
        return [PROCESSING, PROCESSING, events[0], PROCESSING, *events[1:]]

    @staticmethod
    def router_error(status: int, message: str) -> object:
        return {"error": {"code": status, "message": message, "metadata": {}}}

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        if state is None:
            return 401, self.router_error(401, "User not found.")
        if state.status == "revoked":
            return 401, self.router_error(401, "Key is disabled.")
        if state.status in ("blocked", "no_permission"):
            return 403, self.router_error(403, "Key is blocked from this model.")
        if state.status == "no_credit":
            return 402, self.router_error(
                402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits"
            )
        return None

    def unknown_model(self, model: str) -> Failure:
        return 400, self.router_error(400, f"{model} is not a valid model ID")

    def error_body(self, status: int, fault: Fault) -> object:
        table = {
            400: "Bad request",
            401: "User not found.",
            402: "Insufficient credits.",
            403: "Your chosen model requires moderation and your input was flagged",
            408: "Request timed out",
            429: "Rate limit exceeded",
            502: "Provider returned error",
            503: "No available provider",
        }
        return self.router_error(status, fault.message or table.get(status, "Server error"))

    def stream_error_event(self, fault: Fault) -> bytes:
        body = self.chunk(
            "openai/gpt-5.6-terra",
            [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "error",
                    "native_finish_reason": "error",
                }
            ],
        )
        body["error"] = {
            "code": fault.status or 502,
            "message": fault.message or "Provider returned error",
        }
        return self.sse(body)
