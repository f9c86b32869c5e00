"""The slack-bolt AsyncApp with every listener, and the Web API client it uses.

The client retries connection errors and Slack's rate limits (HTTP 429), honouring
``Retry-After`` (except interim streamed edits, which give up and pause their workspace's
edit budget); anything a listener lets escape is logged with an incident id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import commands, events, home, modals
from adapters.slack.assistant import build_assistant
from adapters.slack.events import EventSettings
from adapters.slack.quiet_logger import quiet_logger
from adapters.slack.runtime import Runtime
from adapters.slack.streaming import INTERIM_EDIT
from bot.incidents import record_incident
from bot.log_throttle import WarningThrottle

__all__ = ["build_bolt_app", "build_client"]

log = logging.getLogger(__name__)


#: Retries after a rate limit; each waits as long as Slack's Retry-After says.
RATE_LIMIT_RETRIES = 2

ErrorReporter = Callable[[str], None]
_ERROR_CODE = re.compile(r"[a-z0-9_]{1,48}")


class _ErrorCounter(AsyncRetryHandler):
    """Sees every Web API answer and connection error first; never retries anything.

    Retry handlers are the one hook slack-sdk calls for every call of every client,
    including the per-request clients bolt makes from the app's client.
    """

    def __init__(self, report: ErrorReporter) -> None:
        super().__init__(max_retry_count=0)
        self._report = report

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is not None:
            self._report("connection")
        elif response is not None:
            body = response.body if isinstance(response.body, dict) else {}
            if response.status_code >= 400 or body.get("ok") is False:
                code = str(body.get("error") or f"http_{response.status_code}")
                self._report(code if _ERROR_CODE.fullmatch(code) else "other")
        return False


class _RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Waits as long as Retry-After says and retries, except an interim streamed edit.

    An interim edit gives up at once (the next one carries everything) and holds its
    workspace's edit budget back instead, so no message's pacer sleeps through a 429.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        budget = INTERIM_EDIT.get()
        if budget is None:
            return True
        await budget.hold(_retry_after(response))
        return False


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            with suppress(ValueError):
                return max(float(values[0]), 1.0)
    return 1.0


def build_client(
    api_url: str,
    token: str | None = None,
    *,
    on_error: ErrorReporter | None = None,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """A Web API client for ``api_url`` (keep its trailing slash) with retries.

    Pass one long-lived ``session``: without it slack-sdk opens and closes a new HTTP
    session (and against slack.com a new TLS connection) for every call.

    ``on_error`` hears of every failed call by Slack's error code (``not_in_channel``,
    ``ratelimited``, ``http_500``, ``connection``), for the adapter-error metric.
    """
    counter: list[AsyncRetryHandler] = [_ErrorCounter(on_error)] if on_error else []
    return AsyncWebClient(
        token=token,
        base_url=api_url if api_url.endswith("/") else api_url + "/",
        retry_handlers=[
            *counter,
            AsyncConnectionErrorRetryHandler(),
            _RateLimitRetry(max_retry_count=RATE_LIMIT_RETRIES),
        ],
        logger=quiet_logger("adapters.slack.web"),
        session=session,
    )


def build_bolt_app(
    runtime: Runtime,
    client: AsyncWebClient,
    events_settings: EventSettings,
    *,
    signing_secret: str | None,
    oauth: AsyncOAuthSettings | None = None,
    process_before_response: bool = False,
) -> AsyncApp:
    """The bolt app: slash commands, forms, events, shortcuts, App Home and the assistant."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "",
        oauth_settings=oauth,
        installation_store_bot_only=True if oauth is not None else None,
        process_before_response=process_before_response,
        logger=logging.getLogger("adapters.slack.bolt"),
        # Bolt's own warning for these spans many lines per request; ours is one a minute.
        raise_error_for_unhandled_request=True,
    )
    unhandled = WarningThrottle(log)

    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        if isinstance(error, BoltUnhandledRequestError):
            unhandled.warn("unhandled", "slack: no listener for a request (answered 404)")
            return
        record_incident(log, f"slack: a {kind} listener", error)

    app.error(on_error)
    # The assistant middleware first: it owns the threads of DMs with the bot.
    app.assistant(build_assistant(runtime, events_settings))
    commands.register(app, runtime)
    modals.register(app, runtime)
    events.register(app, runtime, events_settings)
    home.register(app, runtime)

    async def on_uninstalled(body: dict[str, Any]) -> None:
        store = oauth.installation_store if oauth is not None else None
        if store is not None:
            enterprise = body.get("enterprise_id")
            await store.async_delete_all(enterprise_id=enterprise, team_id=body.get("team_id"))

    app.event("app_uninstalled")(on_uninstalled)
    app.event("tokens_revoked")(on_uninstalled)
    return app
