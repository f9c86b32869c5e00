"""OpenRouter over the shared OpenAI-compatible client.

What OpenRouter adds (https://openrouter.ai/docs): ``: OPENROUTER PROCESSING`` comment
lines in streams and errors inside a 200 stream (both handled by the shared client); 402
for missing credit; ``usage.cost`` in every answer, kept as ``Usage.reported_cost``; the
model that actually served the request in the answer's ``model`` (``openrouter/auto`` or a
fallback may pick another), which is what :class:`~byok.types.ChatResult` records; and
``GET /api/v1/key``, which proves the key and reports its credit limit and what remains.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from byok.errors import ProviderQuotaError
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.secret import Secret
from byok.types import KeyInfo

__all__ = ["OpenRouterProvider"]


class OpenRouterProvider(OpenAICompatibleProvider):
    """Any ``vendor/model`` id or ``openrouter/auto``; key check via ``GET /key``."""

    async def _validate_key(self, key: Secret) -> KeyInfo:
        raw = (await self._get_json("/key", key)).get("data")
        data = raw if isinstance(raw, dict) else {}
        limit = _usd(data.get("limit"))
        remaining = _usd(data.get("limit_remaining"))
        if remaining is not None and remaining <= 0:
            raise ProviderQuotaError(self.provider_id)
        label = data.get("label")
        return KeyInfo(
            provider_id=self.provider_id,
            label=str(label) if label else None,
            credit_limit=limit,
            credit_remaining=remaining,
        )


def _usd(value: object) -> Decimal | None:
    """A credit figure; unknown unless it is a finite number (NaN cannot be compared)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
