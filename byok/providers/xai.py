"""xAI (Grok) over the shared OpenAI-compatible client.

Differences from OpenAI that matter (https://docs.x.ai/docs): a bad key is answered with **HTTP 400**
and an ``error`` field that is a plain *string* (``{"code": "...", "error": "Incorrect API
key provided: ..."}``), both handled by the shared client's error reading; reasoning tokens
are counted outside ``completion_tokens`` (handled in :mod:`byok.providers.openai_wire`);
and the key check is ``GET /v1/api-key``, which spends nothing and says whether the key or
its team is blocked or disabled even when it answers 200.
"""

from __future__ import annotations

from byok.errors import InvalidKeyError
from byok.providers.openai_compatible import OpenAICompatibleProvider
from byok.secret import Secret
from byok.types import KeyInfo

__all__ = ["XAIProvider"]


class XAIProvider(OpenAICompatibleProvider):
    """Grok models; key check via ``GET {base_url}/api-key``."""

    async def _validate_key(self, key: Secret) -> KeyInfo:
        info = await self._get_json("/api-key", key)
        if info.get("api_key_disabled"):
            raise InvalidKeyError(self.provider_id, "revoked")
        if info.get("api_key_blocked") or info.get("team_blocked"):
            raise InvalidKeyError(self.provider_id, "blocked")
        label = info.get("name") or info.get("redacted_api_key")
        return KeyInfo(provider_id=self.provider_id, label=str(label) if label else None)
