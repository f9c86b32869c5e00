"""``SlackAdapter``: the Slack front end as ``byok-bot run`` starts and stops it.

Socket Mode (the default) needs no public URL: ``start()`` connects and returns.
HTTP mode serves Slack's signed requests at ``/slack/events`` through the bot's own
HTTP server (see :meth:`SlackAdapter.routes`), and with ``client_id``/``client_secret``
the OAuth install flow at ``/slack/install`` and ``/slack/oauth_redirect`` installs the
app in many workspaces, kept in the bot's database. A request bolt could not read safely
(see :mod:`adapters.slack.request_checks`) is refused with 400 or 401 and at most one
WARNING line a minute per kind of problem.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import build_bolt_app, build_client
from adapters.slack.delivery import SlackOptions
from adapters.slack.events import EventSettings
from adapters.slack.messenger import SlackMessenger
from adapters.slack.oauth import InstallationBackend, oauth_settings
from adapters.slack.quiet_logger import quiet_logger
from adapters.slack.request_checks import Refusal, checked_request
from adapters.slack.runtime import Runtime
from adapters.slack.texts import slack_error_code
from bot.config import SlackSettings
from bot.dispatch import Dispatcher
from bot.log_throttle import WarningThrottle
from bot.summaries.transcripts import max_transcript_bytes

__all__ = ["SlackAdapter"]

log = logging.getLogger(__name__)


def _secret(value: object) -> str | None:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal()) if reveal is not None else None


class SlackAdapter:
    """Runs the bot in Slack.

    ``installations`` (``byok.installations.InstallationStore``) is required when
    ``client_id`` and ``client_secret`` are configured. ``process_before_response`` and
    ``options`` exist for tests; production keeps the defaults.
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        settings: SlackSettings,
        *,
        installations: InstallationBackend | None = None,
        redirect_uri: str | None = None,
        options: SlackOptions | None = None,
        process_before_response: bool = False,
    ) -> None:
        self.settings = settings
        self.runtime = Runtime(dispatcher, options or SlackOptions())
        signing_secret = _secret(settings.signing_secret)
        self._signing_secret = signing_secret or ""
        self._refusals = WarningThrottle(log)
        if settings.mode == "http" and not signing_secret:
            raise ValueError('[slack] mode = "http" needs signing_secret')
        client_secret = _secret(settings.client_secret)
        oauth = None
        if settings.client_id and client_secret:
            if installations is None:
                raise ValueError("Slack OAuth installs need an installation store")
            oauth = oauth_settings(
                client_id=settings.client_id,
                client_secret=client_secret,
                api_url=settings.api_url,
                backend=installations,
                redirect_uri=redirect_uri,
            )
        token = None if oauth is not None else _secret(settings.bot_token)
        self._report = lambda kind: dispatcher.adapter_error("slack", kind)
        # One HTTP session (connection pool) for every Web API call this adapter makes.
        self._session = aiohttp.ClientSession() if _loop_running() else None
        self.client: AsyncWebClient = build_client(
            settings.api_url, token, on_error=self._report, session=self._session
        )
        self._clients: dict[str, AsyncWebClient] = {}
        self.app: AsyncApp = build_bolt_app(
            self.runtime,
            self.client,
            EventSettings(
                settings.api_url, max_transcript_bytes(dispatcher.ctx.max_transcript_chars)
            ),
            signing_secret=signing_secret,
            oauth=oauth,
            process_before_response=process_before_response,
        )
        self._socket: AsyncSocketModeHandler | None = None

    async def start(self) -> None:
        """Check the bot token; Socket Mode: connect. HTTP mode serves :meth:`routes`.

        When it fails, it closes what it opened: no :meth:`stop` is needed.
        """
        try:
            await self._start()
        except BaseException:
            if self._session is not None:
                await self._session.close()
            raise

    async def _start(self) -> None:
        if self.client.token:
            try:
                me = await self.client.auth_test()
            except SlackApiError as exc:
                code = slack_error_code(exc)
                raise RuntimeError(
                    f"Slack refused the bot token ({code}): check SLACK_BOT_TOKEN / [slack] bot_token"
                ) from None
            log.info("slack: signed in as @%s in %s", me.get("user"), me.get("team"))
        if self.settings.mode != "socket":
            return
        app_token = _secret(self.settings.app_token)
        if not app_token:
            raise ValueError('[slack] mode = "socket" needs app_token (an xapp- token)')
        socket_log = quiet_logger("adapters.slack.socket")
        handler = AsyncSocketModeHandler(self.app, app_token=app_token, logger=socket_log)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        self._socket = handler
        log.info("slack: connected in Socket Mode")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Disconnect, let work in flight finish for up to ``grace_s``, then cancel the rest."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()  # type: ignore[no-untyped-call]
        if not await self.runtime.drain(grace_s):
            log.warning(
                "slack: stopping with %d job(s) still in progress", self.runtime.work.active
            )
        await self.runtime.close()
        if self._session is not None:
            await self._session.close()

    async def drain(self) -> None:
        """Wait for all background work (answers, forms) to finish."""
        await self.runtime.drain()

    def readiness(self) -> tuple[str, bool]:
        """For ``/readyz``: Socket Mode is ready while connected; HTTP mode always."""
        if self.settings.mode != "socket":
            return "slack", True
        session = getattr(self._socket.client, "current_session", None) if self._socket else None
        return "slack", session is not None and not session.closed

    # -- HTTP mode ------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes for the bot's HTTP server: events (HTTP mode) and OAuth install."""
        found: list[web.RouteDef] = []
        if self.settings.mode == "http":
            found.append(web.post("/slack/events", self._events))
        flow = self.app.oauth_flow
        if flow is not None:
            found.append(web.get(flow.install_path, self._install))
            found.append(web.get(flow.redirect_uri_path, self._redirect))
        return found

    async def _events(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
            bolt = checked_request(raw, request.headers, request.query_string, self._signing_secret)
        except Refusal as refusal:
            self._refusals.warn(
                refusal.kind,
                "slack: refused a request to /slack/events (HTTP %s): %s",
                refusal.status,
                refusal.problem,
            )
            return web.Response(status=refusal.status, text=f"Refused: {refusal.problem}.")
        except HttpProcessingError as exc:  # the body broke off or was mis-encoded
            self._refusals.warn(
                "broken_body", "slack: refused a request to /slack/events with a broken body"
            )
            return web.Response(status=exc.code or 400, text="Refused: the body could not be read.")
        response = await self.app.async_dispatch(bolt)
        return await to_aiohttp_response(response)

    async def _install(self, request: web.Request) -> web.Response:
        assert self.app.oauth_flow is not None
        bolt = await to_bolt_request(request)
        return await to_aiohttp_response(await self.app.oauth_flow.handle_installation(bolt))

    async def _redirect(self, request: web.Request) -> web.Response:
        assert self.app.oauth_flow is not None
        bolt = await to_bolt_request(request)
        return await to_aiohttp_response(await self.app.oauth_flow.handle_callback(bolt))

    # -- direct messages ------------------------------------------------------------

    @property
    def messenger(self) -> SlackMessenger:
        """Sends digests and alerts by DM (``bot.messenger.Messenger``)."""
        return SlackMessenger(self._client_for)

    async def _client_for(self, team_id: str) -> AsyncWebClient:
        flow = self.app.oauth_flow
        if flow is None:
            return self.client
        store = flow.settings.installation_store
        bot = await store.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise LookupError(f"the app is not installed in Slack workspace {team_id}")
        client = self._clients.get(bot.bot_token)
        if client is None:
            client = self._clients[bot.bot_token] = build_client(
                self.settings.api_url, bot.bot_token, on_error=self._report, session=self._session
            )
        return client


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
