"""Which providers exist, what users may call them, and how to build them.

The built-in providers (:mod:`byok.providers.builtins`) and their documented default base
URLs are a public contract: ``[providers.<id>]`` in the README and ``config.example.toml``.
An operator may add any number of OpenAI-compatible endpoints (Ollama, vLLM, LM Studio)
under names of their own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

from byok.errors import ConfigError, UnknownProviderError
from byok.providers.base import Provider, ProviderSettings, WireProtocol
from byok.providers.builtins import (
    BUILTIN_PROVIDER_IDS,
    BUILTIN_RECORDS,
    WIRE_IMPLEMENTATIONS,
    builtin_record,
)

__all__ = [
    "BUILTIN_PROVIDERS",
    "BUILTIN_PROVIDER_IDS",
    "PROVIDER_ALIASES",
    "build_provider",
    "build_providers",
    "provider_settings",
    "resolve_provider_id",
]

BUILTIN_PROVIDERS: Mapping[str, ProviderSettings] = MappingProxyType(
    {
        r.provider_id: ProviderSettings(
            r.provider_id, r.wire, r.base_url, r.default_model, display_name=r.display_name
        )
        for r in BUILTIN_RECORDS
    }
)

#: Other names users type for the built-in providers.
PROVIDER_ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: r.provider_id for r in BUILTIN_RECORDS for alias in r.aliases}
)


def resolve_provider_id(name: str, configured: Iterable[str] = ()) -> str:
    """The provider id for a name a user typed: an id, an alias, or a configured name."""
    extra = [c for c in configured if c not in BUILTIN_PROVIDERS]
    wanted = name.strip().lower()
    if wanted in BUILTIN_PROVIDERS or wanted in extra:
        return wanted
    if wanted in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[wanted]
    raise UnknownProviderError(name, [*BUILTIN_PROVIDER_IDS, *extra])


def provider_settings(
    provider_id: str,
    *,
    wire: WireProtocol | None = None,
    base_url: str | None = None,
    default_model: str | None = None,
    timeout_s: float | None = None,
    max_retries: int | None = None,
    display_name: str | None = None,
) -> ProviderSettings:
    """Operator settings over the built-in defaults (unset arguments keep the default).

    A provider that is not built in needs ``base_url`` and ``default_model``, and speaks
    the OpenAI-compatible wire unless told otherwise.
    """
    builtin = BUILTIN_PROVIDERS.get(provider_id)
    if builtin is None:
        if base_url is None or default_model is None:
            raise ConfigError(
                f"[providers.{provider_id}] is not a built-in provider, so it needs "
                "base_url and default_model"
            )
        builtin = ProviderSettings(
            provider_id,
            wire or "openai-compatible",
            base_url,
            default_model,
            display_name=provider_id,
        )
    return ProviderSettings(
        provider_id=provider_id,
        wire=wire or builtin.wire,
        base_url=base_url or builtin.base_url,
        default_model=default_model or builtin.default_model,
        timeout_s=builtin.timeout_s if timeout_s is None else timeout_s,
        max_retries=builtin.max_retries if max_retries is None else max_retries,
        display_name=display_name or builtin.display_name,
    )


def build_provider(settings: ProviderSettings) -> Provider:
    """A ready provider for these settings; it owns one pooled HTTP client until aclose().

    Provider modules are imported here, not at the top: each pulls in an SDK that takes
    up to two seconds to import, and a process may use only some of them.
    """
    return _implementation(settings)(settings)


def _implementation(settings: ProviderSettings) -> Callable[[ProviderSettings], Provider]:
    """The built-in's own class when it keeps its own wire, else the wire's class."""
    record = builtin_record(settings.provider_id)
    if record is not None and record.wire == settings.wire:
        path = record.implementation_path
    elif settings.wire in WIRE_IMPLEMENTATIONS:
        path = WIRE_IMPLEMENTATIONS[settings.wire]
    else:
        raise ConfigError(
            f"[providers.{settings.provider_id}] has an unknown wire {settings.wire!r}"
        )
    module, _, name = path.partition(":")
    implementation: Callable[[ProviderSettings], Provider] = getattr(
        importlib.import_module(module), name
    )
    return implementation


def build_providers(settings: Iterable[ProviderSettings]) -> dict[str, Provider]:
    """One provider per settings entry, keyed by provider id."""
    return {s.provider_id: build_provider(s) for s in settings}
