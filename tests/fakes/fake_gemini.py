"""A fake Gemini API (Google AI, generativelanguage.googleapis.com).

Wire facts it reproduces (https://ai.google.dev/api/generate-content):
``POST /{v1beta|v1}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``; the key in ``x-goog-api-key`` (a ``?key=`` query is
accepted too, as the real API does, so tests can prove the client never uses it); camelCase
bodies with ``systemInstruction`` and the ``model`` role; SSE frames
``data: {...}\\r\\n\\r\\n`` each with ``usageMetadata`` (the last is final);
``thoughtsTokenCount`` outside ``candidatesTokenCount``; an invalid key answered with
**400** ``INVALID_ARGUMENT`` / ``API_KEY_INVALID``; 429 ``RESOURCE_EXHAUSTED`` with a
``RetryInfo``; key check ``GET /{version}/models``; ``inlineData`` parts (``mimeType``
and base64 ``data``) checked as the API does, the request at most 20 MB in all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from tests.fakes.images import SeenImage, decode_image
from tests.fakes.llm_script import Failure, FakeLLM, KeyState, Reply
from tests.fakes.loopback import RECORDED, Fault, RecordedRequest

__all__ = ["FakeGemini"]

_FINISH = {"stop": "STOP", "length": "MAX_TOKENS"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


_MAX_REQUEST_BYTES = 20 * 1024 * 1024  # inline data: the whole request


class FakeGemini(FakeLLM):
    provider_id = "google"
    key_prefix = "AIzaTest"
    default_models = ("gemini-3.5-flash", "gemini-3.1-pro-preview", "gemini-2.5-flash")
    events_before_text = 0
    end_events = 1
    usage_fields: ClassVar[Mapping[str, str]] = {
        "input_tokens": "promptTokenCount",
        "output_tokens": "candidatesTokenCount",
    }

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/{version}/models/{target}", self.handle_generate)
        app.router.add_get("/{version}/models", self.handle_models)

    @property
    def base_url(self) -> str:
        return self.url

    def key_of(self, recorded: RecordedRequest) -> str | None:
        return recorded.headers.get("x-goog-api-key") or recorded.query.get("key")

    async def handle_generate(self, request: web.Request) -> web.StreamResponse:
        recorded = request[RECORDED]
        model, _, action = request.match_info["target"].partition(":")
        failure = self.auth_failure(recorded)
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        if model not in self.models:
            return self.json_response(
                self.error(
                    404,
                    f"models/{model} is not found for API version "
                    f"{request.match_info['version']}, or is not supported for "
                    "generateContent. Call ListModels to see the list of available models "
                    "and their supported methods.",
                ),
                404,
            )
        if len(recorded.body) > _MAX_REQUEST_BYTES:
            return self.json_response(
                self.error(400, "Request payload size exceeds the limit: 20971520 bytes."), 400
            )
        refused = self.image_failure(recorded.json())
        if refused is not None:
            return self.json_response(self.error(400, refused), 400)
        reply = self.next_reply(recorded)
        served = self.served_model(reply, model)
        if action == "streamGenerateContent":
            return await self.respond_sse(request, self.stream_events(reply, served))
        if action != "generateContent":
            return self.json_response(self.error(400, f"unknown action {action}"), 400)
        return await self.respond_json(
            request, self.response(reply, served, reply.text, final=True)
        )

    def image_failure(self, body: Mapping[str, Any]) -> str | None:
        """``inlineData`` parts must hold a supported image of the ``mimeType`` they say;
        Gemini answers 400 INVALID_ARGUMENT otherwise."""
        seen: list[SeenImage] = []
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                inline = part.get("inlineData") if isinstance(part, dict) else None
                if inline is None:
                    continue
                # Protobuf's JSON mapping takes the field's proto name too, and
                # google-genai writes ``mime_type`` inside ``inlineData``.
                mime = inline.get("mimeType", inline.get("mime_type"))
                image = decode_image(str(inline.get("data", "")), str(mime), url_safe=True)
                if isinstance(image, str):
                    return f"Unable to process input image: {image}."
                seen.append(image)
        self.images_seen.extend(seen)
        return None

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        failure = self.auth_failure(request[RECORDED])
        if failure is not None:
            return self.json_response(failure[1], failure[0])
        return await self.respond_json(
            request,
            {
                "models": [
                    {
                        "name": f"models/{m}",
                        "version": "001",
                        "displayName": m,
                        "inputTokenLimit": 1_048_576,
                        "outputTokenLimit": 65_536,
                        "supportedGenerationMethods": ["generateContent", "countTokens"],
                    }
                    for m in self.models
                ]
                + [
                    {
                        "name": "models/text-embedding-004",
                        "displayName": "Embedding",
                        "supportedGenerationMethods": ["embedContent"],
                    }
                ]
            },
        )

    # -- rendering ------------------------------------------------------------------------

    @staticmethod
    def usage(reply: Reply, *, output: int | None = None) -> dict[str, Any]:
        candidates = (reply.output_tokens if output is None else output) - reply.reasoning_tokens
        meta: dict[str, Any] = {
            "promptTokenCount": reply.input_tokens,
            "candidatesTokenCount": max(candidates, 0),
            "totalTokenCount": reply.input_tokens + max(candidates, 0) + reply.reasoning_tokens,
        }
        if reply.reasoning_tokens:
            meta["thoughtsTokenCount"] = reply.reasoning_tokens
        if reply.cached_tokens:
            meta["cachedContentTokenCount"] = reply.cached_tokens
        return meta

    def response(
        self, reply: Reply, model: str, text: str, *, final: bool, output: int | None = None
    ) -> dict[str, Any]:
        if reply.finish_reason == "blocked":  # the prompt tripped a safety filter
            return {
                "promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": reply.input_tokens,
                                  "totalTokenCount": reply.input_tokens},
                "modelVersion": model,
            }  # fmt: skip
        candidate: dict[str, Any] = {
            "content": {"role": "model", "parts": [{"text": text}]},
            "index": 0,
        }
        if final:
            candidate["finishReason"] = _FINISH.get(reply.finish_reason, reply.finish_reason)
        return {
            "candidates": [candidate],
            "usageMetadata": self.with_wire_usage(reply, self.usage(reply, output=output)),
            "modelVersion": model,
            "responseId": "resp-fake1",
        }

    def stream_events(self, reply: Reply, model: str) -> list[bytes]:
        if reply.finish_reason == "blocked":
            return [self.sse(self.response(reply, model, "", final=True), crlf=True)]
        pieces = reply.pieces()
        events = []
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            # Partial counts until the last chunk, as the real API reports them.
            output = reply.output_tokens if final else reply.reasoning_tokens + index + 1
            events.append(
                self.sse(self.response(reply, model, piece, final=final, output=output), crlf=True)
            )
        return events

    # -- errors -------------------------------------------------------------------------

    @staticmethod
    def error(
        code: int,
        message: str,
        *,
        reason: str | None = None,
        extra: list[dict[str, Any]] | None = None,
    ) -> object:
        details: list[dict[str, Any]] = []
        if reason:
            details.append(
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            )
        details += extra or []
        body: dict[str, Any] = {
            "code": code,
            "message": message,
            "status": _STATUS.get(code, "UNKNOWN"),
        }
        if details:
            body["details"] = details
        return {"error": body}

    def key_failure(self, state: KeyState | None, key: str | None) -> Failure | None:
        if state is None:
            return 400, self.error(
                400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"
            )
        if state.status == "revoked":
            return 400, self.error(
                400, "API key expired. Please renew the API key.", reason="API_KEY_INVALID"
            )
        if state.status == "blocked":
            return 403, self.error(
                403,
                "Requests to this API generativelanguage.googleapis.com method "
                "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent "
                "are blocked.",
                reason="API_KEY_SERVICE_BLOCKED",
            )
        if state.status == "no_permission":
            return 403, self.error(
                403, "The caller does not have permission", reason="PERMISSION_DENIED"
            )
        if state.status == "no_credit":
            return 429, self.error(
                429, "You exceeded your current quota, please check your plan and billing details."
            )
        return None

    def error_body(self, status: int, fault: Fault) -> object:
        if status == 429:
            return self.error(
                429,
                fault.message
                or "You exceeded your current quota, please check your plan and billing details.",
                extra=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "47s"}],
            )
        if status == 400:
            return self.error(400, fault.message or "Request contains an invalid argument.")
        if status == 401:
            return self.error(
                401, fault.message or "Request had invalid authentication credentials."
            )
        if status == 403:
            return self.error(403, fault.message or "The caller does not have permission")
        return self.error(status, fault.message or "An internal error has occurred.")

    def stream_error_event(self, fault: Fault) -> bytes:
        return self.sse(self.error(fault.status or 503, fault.message or "overloaded"), crlf=True)
