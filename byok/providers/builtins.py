"""The built-in providers: one record each, and every fact the code knows about them.

The registry, pricing, key-shape checks (:mod:`byok.secret`), ``--model`` alone, the
config's ids and environment variables, display names and chart colours all read
:data:`BUILTIN_RECORDS`; nothing else lists the built-in providers.

Adding a provider that speaks the OpenAI-compatible wire is one more :class:`BuiltinProvider`
below. A provider with a wire of its own is a record plus one module implementing
:class:`~byok.providers.base.Provider`, named in :data:`WIRE_IMPLEMENTATIONS`.

This module imports nothing from ``byok``: :mod:`byok.secret`, which every other module
depends on, reads the key shapes from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = [
    "BUILTIN_PROVIDER_IDS",
    "BUILTIN_RECORDS",
    "OPENROUTER_AUTO",
    "WIRE_IMPLEMENTATIONS",
    "BuiltinProvider",
    "KeyShape",
    "WireProtocol",
    "builtin_record",
]

WireProtocol = Literal["openai", "anthropic", "google", "openai-compatible"]

#: The class that speaks each wire, as ``module:Class``; imported on first use, since each
#: provider module pulls in an SDK that takes up to two seconds to import.
WIRE_IMPLEMENTATIONS: Mapping[WireProtocol, str] = MappingProxyType(
    {
        "openai": "byok.providers.openai:OpenAIProvider",
        "anthropic": "byok.providers.anthropic:AnthropicProvider",
        "google": "byok.providers.google:GoogleProvider",
        "openai-compatible": "byok.providers.openai_compatible:OpenAICompatibleProvider",
    }
)

#: OpenRouter's Auto Router: a model id that asks OpenRouter to pick the model.
OPENROUTER_AUTO = "openrouter/auto"


@dataclass(frozen=True, slots=True)
class KeyShape:
    """How a provider's API keys look, so keys pasted in chat are caught and logs masked.

    Patterns are regular expressions.
    """

    #: A whole key, as it may appear inside a line of text.
    pattern: str
    #: The vendor prefix alone: what is left after it is masked too, as it may be written
    #: on its own.
    prefix: str
    #: Literal prefixes only this provider issues; a key starting with one belongs to it.
    own_prefixes: tuple[str, ...] = ()
    #: Text inside every key of this provider whose prefix other providers share.
    marker: str | None = None


@dataclass(frozen=True, slots=True)
class BuiltinProvider:
    """One built-in provider: its ``[providers.<id>]`` defaults and what identifies it."""

    provider_id: str
    display_name: str
    wire: WireProtocol
    #: As the provider documents its base (the public contract of ``base_url``).
    base_url: str
    default_model: str
    #: The environment variable holding the operator's own key.
    operator_key_env: str
    keys: KeyShape
    #: The provider's id in the ``genai-prices`` tables; None: no prices.
    price_id: str | None
    #: A regular expression matching (at the start) model names only this provider uses,
    #: so ``--model`` alone picks it. The first record that matches wins.
    model_pattern: str | None
    #: The colour of this provider in charts.
    chart_color: str
    #: Other names users type for it.
    aliases: tuple[str, ...] = ()
    #: ``module:Class`` when it needs more than its wire's class (:data:`WIRE_IMPLEMENTATIONS`).
    implementation: str | None = None
    #: For a router that may answer with another model than the one asked (it says which in
    #: the answer): the model id that lets it pick.
    auto_router_model: str | None = None

    @property
    def implementation_path(self) -> str:
        """The ``module:Class`` that serves this provider on its own wire."""
        return self.implementation or WIRE_IMPLEMENTATIONS[self.wire]


_SK_BODY = r"[A-Za-z0-9_\-]{16,}"

BUILTIN_RECORDS: tuple[BuiltinProvider, ...] = (
    BuiltinProvider(
        provider_id="openai",
        display_name="OpenAI",
        wire="openai",
        base_url="https://api.openai.com/v1",
        default_model="gpt-5.6-terra",
        operator_key_env="OPENAI_API_KEY",
        keys=KeyShape(
            pattern=r"sk-(?:proj-|svcacct-|admin-)?" + _SK_BODY,
            prefix=r"sk-(?:proj-|svcacct-|admin-)?",
            own_prefixes=("sk-proj-", "sk-svcacct-", "sk-admin-"),
            # Every OpenAI secret key carries "T3BlbkFJ" (base64 of "OpenAI") in its middle,
            # including legacy ones that start with a bare "sk-".
            marker="T3BlbkFJ",
        ),
        price_id="openai",
        model_pattern=r"(gpt-(?!oss)|chatgpt-|o[1-9](-|$))",  # gpt-oss: open weights
        chart_color="#10a37f",
        aliases=("gpt", "chatgpt"),
    ),
    BuiltinProvider(
        provider_id="anthropic",
        display_name="Anthropic",
        wire="anthropic",
        base_url="https://api.anthropic.com",
        default_model="claude-sonnet-4-6",
        operator_key_env="ANTHROPIC_API_KEY",
        keys=KeyShape(
            pattern=r"sk-ant-" + _SK_BODY,
            prefix=r"sk-ant-(?:api|admin)\d*-",
            own_prefixes=("sk-ant-",),
        ),
        price_id="anthropic",
        model_pattern=r"claude-",
        chart_color="#d97757",
        aliases=("claude",),
    ),
    BuiltinProvider(
        provider_id="google",
        display_name="Google Gemini",
        wire="google",
        base_url="https://generativelanguage.googleapis.com",
        default_model="gemini-3.5-flash",
        operator_key_env="GOOGLE_API_KEY",
        keys=KeyShape(pattern=r"AIza[0-9A-Za-z_\-]{30,}", prefix="AIza", own_prefixes=("AIza",)),
        price_id="google",
        model_pattern=r"gemini-",
        chart_color="#4285f4",
        aliases=("gemini",),
    ),
    BuiltinProvider(
        provider_id="xai",
        display_name="xAI Grok",
        wire="openai-compatible",
        base_url="https://api.x.ai/v1",
        default_model="grok-4.3",
        operator_key_env="XAI_API_KEY",
        keys=KeyShape(pattern=r"xai-" + _SK_BODY, prefix="xai-", own_prefixes=("xai-",)),
        price_id="x-ai",  # genai-prices' name for xAI
        model_pattern=r"grok-",
        chart_color="#444444",
        aliases=("grok", "x.ai", "x-ai"),
        implementation="byok.providers.xai:XAIProvider",
    ),
    BuiltinProvider(
        provider_id="openrouter",
        display_name="OpenRouter",
        wire="openai-compatible",
        base_url="https://openrouter.ai/api/v1",
        default_model=OPENROUTER_AUTO,
        operator_key_env="OPENROUTER_API_KEY",
        keys=KeyShape(
            pattern=r"sk-or-(?:v1-)?" + _SK_BODY, prefix=r"sk-or-(?:v1-)?", own_prefixes=("sk-or-",)
        ),
        price_id="openrouter",
        # "vendor/model": any name of that shape, so it stays after the vendors' own.
        model_pattern=r"[a-z0-9][\w.-]*/[\w.:-]+$",
        chart_color="#7c4dff",
        aliases=("open-router",),
        implementation="byok.providers.openrouter:OpenRouterProvider",
        auto_router_model=OPENROUTER_AUTO,
    ),
)

BUILTIN_PROVIDER_IDS: tuple[str, ...] = tuple(p.provider_id for p in BUILTIN_RECORDS)

_BY_ID: Mapping[str, BuiltinProvider] = MappingProxyType(
    {p.provider_id: p for p in BUILTIN_RECORDS}
)


def builtin_record(provider_id: str) -> BuiltinProvider | None:
    """The record of a built-in provider; None for an operator-added one."""
    return _BY_ID.get(provider_id)
