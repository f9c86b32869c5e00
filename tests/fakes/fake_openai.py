"""A fake OpenAI API (Chat Completions), and the base of the other OpenAI-wire fakes.

Wire facts it reproduces (https://platform.openai.com/docs/api-reference/chat):
``POST /v1/chat/completions`` with ``Authorization: Bearer``; streams of ``data:`` frames
ending in ``data: [DONE]``; with ``stream_options.include_usage`` every chunk has
``"usage": null`` and one extra last chunk has ``"choices": []`` and the usage; errors as
``{"error": {"message", "type", "param", "code"}}``; 401 ``invalid_api_key`` echoing a
masked key; 429 ``insufficient_quota`` for an account with no credit; key check
``GET /v1/models``. Like the real API it refuses, with a 400 ``unsupported_parameter``, the
deprecated ``max_tokens`` for reasoning models (gpt-5 family, o-series), which take only
``max_completion_tokens``, and ``stream_options`` on a request that does not stream.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.images import SeenImage, decode_image
from tests.fakes.llm_script import Failure, FakeLLM, KeyState, Reply
from tests.fakes.loopback import RECORDED, Fault

__all__ = ["FakeOpenAI"]

_DATA_URL = re.compile(r"data:(image/[a-z+.-]+);base64,(.*)", re.DOTALL)
_MAX_IMAGE_BYTES = 20 * 1024 * 1024

#: Models that refuse ``max_tokens`` ("Use 'max_completion_tokens' instead").
_REASONING_MODEL = re.compile(r"(gpt-5|o\d)([.-]|$)")


class FakeOpenAI(FakeLLM):
    provider_id = "openai"
    key_prefix = "sk-test-"
    prefix = "/v1"
    default_models = ("gpt-5.6-terra", "gpt-5.6-sol", "gpt-4o-mini")
    events_before_text = 1
    end_events = 2
    #: False plays a server that sends no usage at all (some Ollama / vLLM versions).
    reports_usage = True
    usage_fields: ClassVar[Mapping[str, str]] = {
        "input_tokens": "prompt_tokens",
        "output_tokens": "completion_tokens",
    }

    # -- routes --------------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post(f"{self.prefix}/chat/completions", self.handle_chat)
        app.router.add_get(f"{self.prefix}/models", self.handle_models)

    @property
    def base_url(self) -> str:
        """What to configure as the provider's ``base_url``."""
        return self.url + self.prefix

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        failure = self.auth_failure(recorded)
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        body = recorded.json()
        model = body.get("model", "")
        if model not in self.models:
            status, error = self.unknown_model(model)
            return self.json_response(error, status)
        refused = self.parameter_failure(body, model) or self.image_failure(body)
        if refused is not None:
            return self.json_response(refused[1], refused[0])
        reply = self.next_reply(recorded)
        served = self.served_model(reply, model)
        if body.get("stream"):
            with_usage = self.reports_usage and bool(
                (body.get("stream_options") or {}).get("include_usage")
            )
            return await self.respond_sse(request, self.stream_events(reply, served, with_usage))
        return await self.respond_json(request, self.completion(reply, served))

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        failure = self.auth_failure(request[RECORDED])
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        return await self.respond_json(request, self.model_list())

    # -- wire rendering ----------------------------------------------------------------------

    def model_list(self) -> object:
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
                for m in self.models
            ],
        }

    def usage(self, reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reply.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def completion(self, reply: Reply, model: str) -> object:
        return {
            "id": "chatcmpl-fake1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": self.with_wire_usage(reply, self.usage(reply)) if self.reports_usage else None,
        }

    def chunk(
        self, model: str, choices: list[dict[str, Any]], usage: object = None
    ) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake1",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": usage,
        }

    def stream_events(self, reply: Reply, model: str, with_usage: bool) -> list[bytes]:
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        events = [self.sse(self.chunk(model, [first]))]
        for piece in reply.pieces():
            delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            events.append(self.sse(self.chunk(model, [delta])))
        last = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}
        events.append(self.sse(self.chunk(model, [last])))
        if with_usage:
            usage = self.with_wire_usage(reply, self.usage(reply))
            events.append(self.sse(self.chunk(model, [], usage)))
        events.append(self.sse("[DONE]"))
        return events

    # -- errors -----------------------------------------------------------------------------

    def parameter_failure(self, body: Mapping[str, Any], model: str) -> Failure | None:
        """OpenAI's refusal of a parameter the model or request does not take."""
        if self.provider_id != "openai":
            return None  # xAI and OpenRouter (subclasses) take max_tokens
        if "max_tokens" in body and _REASONING_MODEL.match(model):
            return 400, self.parameter_error(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            )
        if "stream_options" in body and not body.get("stream"):
            return 400, self.parameter_error(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
                "invalid_value",
            )
        return None

    def image_failure(self, body: Mapping[str, Any]) -> Failure | None:
        """Vision input as the Chat Completions reference documents it: array content of
        ``text`` and ``image_url`` parts, each ``url`` a base64 ``data:`` URL of PNG, JPEG,
        GIF or WebP; anything else is a 400 naming the part, as OpenAI answers."""
        seen: list[SeenImage] = []
        for m, message in enumerate(body.get("messages") or []):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for p, part in enumerate(content):
                param = f"messages.[{m}].content.[{p}]"
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    continue
                if kind != "image_url" or message.get("role") != "user":
                    return 400, self.parameter_error(
                        f"Invalid content part in '{param}'.", param, "invalid_value"
                    )
                url = str((part.get("image_url") or {}).get("url") or "")
                match = _DATA_URL.fullmatch(url)
                if match is None:
                    return 400, self.parameter_error(
                        f"Invalid '{param}.image_url.url'. Expected a base64-encoded data URL "
                        "with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVz'), "
                        "but got an invalid value.",
                        f"{param}.image_url.url",
                        "invalid_value",
                    )
                image = decode_image(match.group(2), match.group(1))
                if isinstance(image, str):
                    return 400, self.parameter_error(
                        "You uploaded an unsupported image. Please make sure your image is "
                        "valid and of one of the following formats: "
                        f"['png', 'jpeg', 'gif', 'webp']. ({image})",
                        f"{param}.image_url.url",
                        "invalid_image_format",
                    )
                if image.size > _MAX_IMAGE_BYTES:
                    return 400, self.parameter_error(
                        "Image too large: images must be at most 20 MB.",
                        f"{param}.image_url.url",
                        "image_too_large",
                    )
                seen.append(image)
        self.images_seen.extend(seen)
        return None

    @staticmethod
    def parameter_error(message: str, param: str, code: str) -> object:
        return {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }

    @staticmethod
    def error(message: str, type_: str, code: str | None) -> object:
        return {"error": {"message": message, "type": type_, "param": None, "code": code}}

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        if state is None:
            return 401, self.error(
                f"Incorrect API key provided: {self.masked(key)}. You can find your API key "
                "at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if state.status == "revoked":
            return 401, self.error(
                f"The API key {self.masked(key)} has been deactivated.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if state.status in ("no_permission", "blocked"):
            return 403, self.error(
                "You have insufficient permissions for this operation. "
                "Missing scopes: model.request.",
                "invalid_request_error",
                None,
            )
        if state.status == "no_credit":
            return 429, self.error(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        return None

    def unknown_model(self, model: str) -> Failure:
        return 404, self.error(
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    def error_body(self, status: int, fault: Fault) -> object:
        table = {
            400: ("Invalid request.", "invalid_request_error", None),
            401: (
                "Incorrect API key provided: sk-***. ",
                "invalid_request_error",
                "invalid_api_key",
            ),
            403: ("You are not allowed to sample from this model", "invalid_request_error", None),
            429: (
                "Rate limit reached for gpt in organization org-1 on requests per min "
                "(RPM): Limit 3, Used 3, Requested 1.",
                "requests",
                "rate_limit_exceeded",
            ),
        }
        message, type_, code = table.get(
            status, ("The server had an error while processing your request.", "server_error", None)
        )
        return self.error(fault.message or message, type_, code)

    def stream_error_event(self, fault: Fault) -> bytes:
        return self.sse(
            self.error(fault.message or "The server had an error.", "server_error", None)
        )
