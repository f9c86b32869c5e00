"""What every command handler may use: the engine and the bot's own limits."""

from __future__ import annotations

from dataclasses import dataclass

from byok.service import BYOKService, Engine
from byok.types import UserRef

__all__ = ["BotContext"]


@dataclass(frozen=True, slots=True)
class BotContext:
    engine: Engine
    max_transcript_chars: int = 400_000
    summary_part_tokens: int = 24_000  # context per summary call: fits every current model
    summary_output_tokens: int = 2_000

    def service(self, user: UserRef) -> BYOKService:
        return self.engine.service(user)

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return self.engine.catalog.ids
