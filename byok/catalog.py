"""The providers this deployment offers, with the operator's rules for each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from byok.errors import UnknownProviderError
from byok.providers.base import Provider
from byok.secret import Secret

__all__ = ["Catalog", "ProviderEntry"]


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """One offered provider: the client, and whether an operator key may stand in."""

    provider: Provider
    display_name: str
    operator_key: Secret | None = None
    allow_operator_key: bool = False
    operator_monthly_cap: Decimal = Decimal(5)
    requires_user_key: bool = True

    @property
    def provider_id(self) -> str:
        return self.provider.provider_id

    @property
    def default_model(self) -> str:
        return self.provider.settings.default_model

    @property
    def operator_key_usable(self) -> bool:
        if not self.requires_user_key:
            return True
        return self.allow_operator_key and bool(self.operator_key)


class Catalog:
    """Providers by id, in the order they are offered; resolves names users type."""

    def __init__(
        self, entries: Mapping[str, ProviderEntry], aliases: Mapping[str, str] | None = None
    ) -> None:
        self._entries = dict(entries)
        self._aliases = {k.lower(): v for k, v in (aliases or {}).items()}

    def __iter__(self) -> Iterator[ProviderEntry]:
        return iter(self._entries.values())

    def __contains__(self, provider_id: object) -> bool:
        return provider_id in self._entries

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def get(self, provider_id: str) -> ProviderEntry:
        return self._entries[provider_id]

    def resolve(self, name: str) -> ProviderEntry:
        """The provider a user means by ``name`` (id or alias, any case)."""
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        entry = self._entries.get(key)
        if entry is None:
            raise UnknownProviderError(name, self.ids)
        return entry

    async def aclose(self) -> None:
        for entry in self._entries.values():
            await entry.provider.aclose()
