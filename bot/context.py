"""What every command handler may use: the engine and the bot's own limits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.alert_delivery import deliver_quota_notices
from bot.messenger import Messenger
from bot.provider_names import ProviderNames
from bot.remedy_text import CommandHints
from byok.engine import Engine
from byok.service import BYOKService
from byok.types import UserRef

__all__ = ["BotContext"]


@dataclass(frozen=True, slots=True)
class BotContext:
    engine: Engine
    max_transcript_chars: int = 400_000
    summary_part_tokens: int = 24_000  # context per summary call: fits every current model
    summary_output_tokens: int = 2_000
    #: The most providers one ``/ask`` comparison asks (``[compare] max_providers``).
    compare_max_providers: int = 3
    # Filled by the running adapters: how to DM a user on each platform.
    messengers: dict[str, Messenger] = field(default_factory=dict)
    #: How an error's remedies are worded as commands: the dispatcher gives its table's
    #: (``bot.commands.table.COMMAND_HINTS``, which this module cannot import).
    hints: CommandHints = field(default_factory=CommandHints)

    def reach_users_with(self, messengers: Iterable[Messenger]) -> None:
        """The running adapters' DM senders, one per platform, for spend alerts."""
        self.messengers.update((m.platform, m) for m in messengers)

    def service(self, user: UserRef) -> BYOKService:
        return BYOKService(self.engine, user)

    async def send_spend_alerts(self, user: UserRef, notices: Iterable[object]) -> None:
        """DM the user their spend alerts at once, when their platform can take DMs."""
        pending = tuple(notices)
        messenger = self.messengers.get(user.platform)
        if pending and messenger is not None:
            await deliver_quota_notices(
                messenger,
                user,
                pending,
                names=self.provider_names,
                database=self.engine.database,
                clock=self.engine.clock,
            )

    @property
    def provider_ids(self) -> tuple[str, ...]:
        return self.engine.catalog.ids

    @property
    def provider_names(self) -> ProviderNames:
        """How each provider is named to people (its display name); ids stay for typing."""
        return ProviderNames.of(self.engine.catalog)
