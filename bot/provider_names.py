"""How a provider is named to a person: its display name, or its id when it has none.

People *read* names ("xAI Grok", an operator's "Office Llama") and *type* ids
(``/byok add xai``, ``--provider local``). Every sentence, footer, heading, legend and
list row that names a provider asks :class:`ProviderNames`; commands, examples, option
values and logs keep the id. An id this deployment no longer offers (old usage rows of
a provider since removed from the config) reads as itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from byok.catalog import ProviderEntry
from byok.providers.builtins import BUILTIN_RECORDS

__all__ = ["ProviderNames"]


@dataclass(frozen=True, slots=True)
class ProviderNames:
    """Display names by provider id."""

    names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, catalog: Iterable[ProviderEntry]) -> ProviderNames:
        """The names a deployment's catalog gives its providers (the config's ``display_name``)."""
        return cls(MappingProxyType({e.provider_id: e.display_name for e in catalog}))

    @classmethod
    def builtin(cls) -> ProviderNames:
        """The built-in providers' own names, for code that runs without a catalog."""
        return cls(MappingProxyType({r.provider_id: r.display_name for r in BUILTIN_RECORDS}))

    def label(self, provider_id: str) -> str:
        """``xAI Grok`` for ``xai``; an unknown id as itself."""
        return self.names.get(provider_id) or provider_id

    def label_with_id(self, provider_id: str) -> str:
        """The name and what to type for it: ``xAI Grok (`xai`)``; just ``xai`` when the
        name is the id."""
        name = self.label(provider_id)
        return provider_id if name == provider_id else f"{name} (`{provider_id}`)"

    def labels(self, provider_ids: Iterable[str]) -> str:
        """``OpenAI, xAI Grok``: several providers named in a sentence, in the order given."""
        return ", ".join(self.label(p) for p in provider_ids)
