"""Model names as users type them, resolved to what each provider serves today.

Users know the original product's names (``gpt-4``, ``claude-3-opus``, ``gemini-pro``,
``grok-1``...). Those models have been retired by their providers, so each maps to the
replacement the provider documents; the table is :data:`LEGACY_MODELS`, one entry per
name, each with its reason, so the bot can show it (``/byok models``). Current model ids
pass through unchanged; OpenRouter's ``auto`` and ``vendor/model`` ids are its own.

The table was checked against the providers' deprecation pages and the model lists of the
pinned SDKs (openai 3.57, anthropic 2.14, google-genai 3.6) and genai-prices 0.2.3 in
November 2026. It is data: update an entry when a provider retires its replacement.

An unknown model is only discovered by asking: :func:`ensure_available` compares against
the key's own model list and raises :class:`~byok.errors.UnknownModelError` listing what
the key can use; providers do the same when a request names a model they do not serve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from byok.errors import UnknownModelError
from byok.providers.base import Provider
from byok.providers.builtins import BUILTIN_RECORDS, OPENROUTER_AUTO
from byok.secret import Secret

__all__ = [
    "LEGACY_MODELS",
    "OPENROUTER_AUTO",
    "LegacyModel",
    "ModelChoice",
    "ensure_available",
    "legacy_models",
    "provider_of_model",
    "resolve_model",
]


@dataclass(frozen=True, slots=True)
class LegacyModel:
    """A retired (or never-served) model name and the current model used instead."""

    provider_id: str
    name: str
    replacement: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model a request will use. ``note`` says why it differs from what was typed."""

    provider_id: str
    model_id: str
    requested: str | None
    note: str | None = None


_OPENAI_SHUTDOWN = (
    "shut down by OpenAI on 2026-10-23; {r} is the replacement listed on OpenAI's deprecations page"
)
_CLAUDE_3 = "Claude 3 models are retired (Claude 3 {tier} on {date}); {r} is the current {tier}"

# One entry per name a user may type. Keys are lower-case.
_TABLE: tuple[LegacyModel, ...] = (
    # OpenAI, developers.openai.com/api/docs/deprecations ("Legacy GPT model snapshots").
    LegacyModel("openai", "gpt-4", "gpt-5.6-sol", _OPENAI_SHUTDOWN.format(r="gpt-5.6-sol")),
    LegacyModel("openai", "gpt-4-turbo", "gpt-5.6-sol", _OPENAI_SHUTDOWN.format(r="gpt-5.6-sol")),
    LegacyModel(
        "openai", "gpt-4-turbo-preview", "gpt-5.6-sol", _OPENAI_SHUTDOWN.format(r="gpt-5.6-sol")
    ),
    LegacyModel(
        "openai", "gpt-3.5-turbo", "gpt-5.6-terra", _OPENAI_SHUTDOWN.format(r="gpt-5.6-terra")
    ),
    # Anthropic, platform.claude.com/docs/en/about-claude/model-deprecations. Claude 3
    # Haiku's documented replacement is Claude Haiku 4.5. The documented replacements of
    # Opus 3 and Sonnet 3 (Opus 4.1, Sonnet 4) are themselves retired, so those map to
    # the current model of the same tier in the pinned SDK's model list.
    LegacyModel(
        "anthropic",
        "claude-3-opus",
        "claude-opus-4-7",
        _CLAUDE_3.format(tier="Opus", date="2026-01-05", r="claude-opus-4-7"),
    ),
    LegacyModel(
        "anthropic",
        "claude-3-sonnet",
        "claude-sonnet-4-6",
        _CLAUDE_3.format(tier="Sonnet", date="2025-07-21", r="claude-sonnet-4-6"),
    ),
    LegacyModel(
        "anthropic",
        "claude-3-haiku",
        "claude-haiku-4-5",
        _CLAUDE_3.format(tier="Haiku", date="2026-04-20", r="claude-haiku-4-5"),
    ),
    # Google, ai.google.dev/gemini-api/docs/deprecations: Gemini 1.0 Pro and Pro Vision
    # are shut down; Gemini 3.5 Flash is the current stable multimodal model (no shutdown
    # date announced), so text and vision requests both go there.
    LegacyModel(
        "google",
        "gemini-pro",
        "gemini-3.5-flash",
        "Gemini 1.0 Pro is shut down; gemini-3.5-flash is Google's current stable model",
    ),
    LegacyModel(
        "google",
        "gemini-1.0-pro",
        "gemini-3.5-flash",
        "Gemini 1.0 Pro is shut down; gemini-3.5-flash is Google's current stable model",
    ),
    LegacyModel(
        "google",
        "gemini-pro-vision",
        "gemini-3.5-flash",
        "Gemini 1.0 Pro Vision is shut down; gemini-3.5-flash takes images as well",
    ),
    # xAI, docs.x.ai/developers/migration: grok-1 was never served by the API; grok-4.3 is
    # xAI's documented replacement for the models retired on 2026-05-15.
    LegacyModel(
        "xai",
        "grok-1",
        "grok-4.3",
        "grok-1 was never offered by the xAI API; grok-4.3 is xAI's recommended model",
    ),
    LegacyModel(
        "xai", "grok-beta", "grok-4.3", "grok-beta is retired; grok-4.3 is xAI's recommended model"
    ),
    # OpenRouter's Auto Router.
    LegacyModel(
        "openrouter", "auto", OPENROUTER_AUTO, "OpenRouter's Auto Router picks a model per request"
    ),
)

LEGACY_MODELS: Mapping[tuple[str, str], LegacyModel] = MappingProxyType(
    {(m.provider_id, m.name): m for m in _TABLE}
)


# Name shapes only one provider uses, in the records' order.
_VENDOR_PATTERNS = tuple(
    (re.compile(r.model_pattern), r.provider_id) for r in BUILTIN_RECORDS if r.model_pattern
)


def provider_of_model(name: str) -> str | None:
    """The provider a model name unmistakably belongs to, if any (``claude-3-haiku``:
    anthropic; ``openai/gpt-4o``: openrouter), so ``--model`` alone can pick it."""
    lowered = name.strip().lower()
    return next((pid for pattern, pid in _VENDOR_PATTERNS if pattern.match(lowered)), None)


def legacy_models(provider_id: str | None = None) -> list[LegacyModel]:
    """The whole table (or one provider's part), in a stable order for display."""
    return [m for m in _TABLE if provider_id is None or m.provider_id == provider_id]


def resolve_model(provider_id: str, typed: str | None, default_model: str) -> ModelChoice:
    """What to send for a model name a user typed (``None``: the provider default).

    Dated snapshots of a retired name (``claude-3-opus-20240229``) resolve like the name.
    """
    if typed is None or not typed.strip():
        return ModelChoice(provider_id, default_model, None)
    name = typed.strip()
    legacy = LEGACY_MODELS.get((provider_id, name.lower())) or _snapshot_of(provider_id, name)
    if legacy is None:
        return ModelChoice(provider_id, name, name)
    return ModelChoice(
        provider_id,
        legacy.replacement,
        name,
        note=f"{name} → {legacy.replacement}: {legacy.reason}.",
    )


def _snapshot_of(provider_id: str, name: str) -> LegacyModel | None:
    lowered = name.lower()
    for legacy in _TABLE:
        if legacy.provider_id != provider_id or not lowered.startswith(legacy.name + "-"):
            continue
        suffix = lowered[len(legacy.name) + 1 :]
        if suffix.replace("-", "").isdigit() or suffix in ("latest", "vision-latest"):
            return legacy
    return None


async def ensure_available(provider: Provider, key: Secret, model_id: str) -> None:
    """Raise UnknownModelError (listing what the key can use) unless the key has the model."""
    models = await provider.list_models(key)
    ids = sorted(m.id for m in models)
    if model_id not in ids:
        raise UnknownModelError(provider.provider_id, model_id, ids)
