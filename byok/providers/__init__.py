"""LLM providers behind one interface.

- :mod:`byok.providers.base` — the :class:`Provider` protocol and :class:`ProviderSettings`.
- :mod:`byok.providers.builtins` — one record per built-in provider: every fact about it.
- :mod:`byok.providers.registry` — settings, aliases and ``build_provider``, from the records.
- :mod:`byok.providers.models` — legacy model names and their current equivalents.
- one module per wire: ``openai``, ``anthropic``, ``google``, ``openai_compatible``
  (with ``xai`` and ``openrouter`` on top).

Only the light protocol types are re-exported here, so importing them does not import
three SDKs; import the registry for the providers themselves.
"""

from byok.providers.base import Provider, ProviderSettings, WireProtocol

__all__ = ["Provider", "ProviderSettings", "WireProtocol"]
