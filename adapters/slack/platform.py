"""Slack as a :class:`bot.chat_platform.ChatPlatform`: what ``run`` and the CLI start.

Builds the :class:`SlackAdapter` from ``[slack]`` (with the installation store when
OAuth installs are configured) and turns its start-up failures into ``StartError``\\ s
that name the setting to check.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from adapters.slack.adapter import SlackAdapter
from adapters.slack.messenger import SlackMessenger
from bot.app import App
from bot.chat_platform import StartError
from bot.config import SlackSettings
from byok.installations import InstallationStore

__all__ = ["SlackPlatform"]


class SlackPlatform:
    """Slack for ``byok-bot run`` and ``digest --send-now``."""

    def __init__(self, settings: SlackSettings, app: App) -> None:
        self._settings = settings
        self._installations = (
            InstallationStore(app.engine.database, app.keyring.keyring)
            if settings.client_id
            else None
        )
        self.adapter = SlackAdapter(app.dispatcher, settings, installations=self._installations)

    @property
    def messenger(self) -> SlackMessenger:
        return self.adapter.messenger

    async def start(self) -> None:
        try:
            await self.adapter.start()
        except (OSError, TimeoutError) as exc:
            raise StartError(
                f"Slack: cannot reach the Web API at [slack] api_url = {self._settings.api_url} "
                f"({type(exc).__name__})"
            ) from None
        except (RuntimeError, ValueError) as exc:  # a refused token: the adapter names the setting
            raise StartError(str(exc)) from None

    async def start_for_sending(self) -> None:
        """Nothing to start: DMs go through the Web API client on demand."""

    async def hand_over(self) -> None:
        """Nothing is shared between instances: each one takes Slack's events."""

    async def stop(self, grace_s: float) -> None:
        await self.adapter.stop(grace_s=grace_s)

    def readiness(self) -> tuple[str, bool]:
        return self.adapter.readiness()

    def routes(self) -> Sequence[web.RouteDef]:
        return self.adapter.routes()

    def describe(self) -> str:
        socket = self._settings.mode == "socket"
        how = "Socket Mode" if socket else "HTTP mode at /slack/events"
        oauth = ", OAuth installs at /slack/install" if self._installations else ""
        return f"Slack: {how}{oauth}"
