"""Installing the app in many workspaces: OAuth settings, installations in our database.

The installations live in the bot's own database, sealed by the vault; this module only
maps slack-sdk's ``Bot`` to a dict and back through an :class:`InstallationBackend`
(``byok.installations.InstallationStore`` in production). The OAuth ``state`` is signed
with the client secret and expires, so several instances need no shared state store;
bolt also binds it to the installing browser with a cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any, Protocol
from urllib.parse import urljoin

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

__all__ = [
    "BOT_SCOPES",
    "DatabaseInstallationStore",
    "InstallationBackend",
    "SignedStateStore",
    "oauth_settings",
]

log = logging.getLogger(__name__)

#: Every bot scope the app uses (slack-manifest.yml lists the same).
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "chat:write",
    "commands",
    "files:read",
    "files:write",
    "groups:history",
    "im:history",
    "im:write",
    "mpim:history",
)

_BOT_FIELDS = (
    "app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token",
    "bot_id", "bot_user_id", "bot_refresh_token", "bot_token_expires_at",
    "is_enterprise_install", "installed_at",
)  # fmt: skip


class InstallationBackend(Protocol):
    """Where installations are kept (``byok.installations.InstallationStore``)."""

    async def save(
        self, enterprise_id: str | None, team_id: str | None, data: dict[str, Any]
    ) -> None: ...

    async def find(
        self, enterprise_id: str | None, team_id: str | None
    ) -> dict[str, Any] | None: ...

    async def delete(self, enterprise_id: str | None, team_id: str | None) -> bool: ...


def _key(
    enterprise_id: str | None, team_id: str | None, org_wide: bool | None
) -> tuple[str | None, str | None]:
    # An org-wide install answers for every workspace of the org.
    return (enterprise_id, None) if org_wide else (enterprise_id, team_id)


class DatabaseInstallationStore(AsyncInstallationStore):
    """slack-sdk's installation store interface, bot tokens only, on our database."""

    def __init__(self, backend: InstallationBackend) -> None:
        self._backend = backend

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        data = {name: getattr(bot, name) for name in _BOT_FIELDS}
        data["bot_scopes"] = ",".join(bot.bot_scopes or ())
        ent, team = _key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        await self._backend.save(ent, team, data)
        log.info("slack: installation saved for %s", bot.team_id or bot.enterprise_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        ent, team = _key(enterprise_id, team_id, is_enterprise_install)
        data = await self._backend.find(ent, team)
        if data is None and enterprise_id and not is_enterprise_install:
            data = await self._backend.find(enterprise_id, None)  # org-wide install
        return Bot(**data) if data is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        if bot is None:
            return None
        fields = {name: getattr(bot, name) for name in _BOT_FIELDS}
        fields["bot_scopes"] = bot.bot_scopes
        return Installation(user_id=user_id or "", **fields)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        if await self._backend.delete(enterprise_id, team_id) or await self._backend.delete(
            enterprise_id, None
        ):
            log.info("slack: installation removed for %s", team_id or enterprise_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # user tokens are never stored; a bot uninstall removes all
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


class SignedStateStore(AsyncOAuthStateStore):
    """OAuth ``state`` values signed with the client secret, valid for ``expiration_s``."""

    def __init__(self, secret: str, expiration_s: int = 600) -> None:
        self._secret = secret.encode()
        self._expiration_s = expiration_s

    @property
    def logger(self) -> logging.Logger:
        return log

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        body = f"{int(time.time())}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    async def async_consume(self, state: str) -> bool:
        body, _, signature = state.rpartition(".")
        issued = body.split(".", 1)[0]
        if not body or not issued.isdigit() or not hmac.compare_digest(signature, self._sign(body)):
            return False
        return time.time() - int(issued) <= self._expiration_s


def oauth_settings(
    *,
    client_id: str,
    client_secret: str,
    api_url: str,
    backend: InstallationBackend,
    redirect_uri: str | None = None,
) -> AsyncOAuthSettings:
    """Bolt's OAuth settings: /slack/install and /slack/oauth_redirect, bot scopes only."""
    return AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        redirect_uri=redirect_uri,
        # slack.com/api/ -> slack.com/oauth/v2/authorize (GovSlack and fakes alike)
        authorization_url=urljoin(api_url, "/oauth/v2/authorize"),
        installation_store=DatabaseInstallationStore(backend),
        installation_store_bot_only=True,
        state_store=SignedStateStore(client_secret),
        logger=logging.getLogger("adapters.slack.oauth.flow"),
    )
