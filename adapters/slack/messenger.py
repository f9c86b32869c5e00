"""Direct messages the bot sends on its own (weekly digests, spend alerts) in Slack.

``conversations.open`` finds the DM, ``chat.postMessage`` posts the reply (continuing in
its thread when long), and each file, such as a PNG chart, goes up with
``files_upload_v2``. Slack's refusals become :class:`~bot.messenger.DeliveryError`,
retryable when trying later may help — unless part of the DM is already out: then it
is logged and counts as delivered, since a retry would repeat that part.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import render_reply
from adapters.slack.streaming import LiveReply
from adapters.slack.texts import slack_error_code
from bot.messenger import DeliveryError
from bot.reply import Reply
from byok.types import UserRef

__all__ = ["ClientFor", "SlackMessenger"]

log = logging.getLogger(__name__)

#: The client to use for a workspace (its installation's token with OAuth).
ClientFor = Callable[[str], Awaitable[AsyncWebClient]]

_RETRYABLE = frozenset(
    {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
)


class SlackMessenger:
    """Implements :class:`bot.messenger.Messenger` for Slack."""

    def __init__(self, client_for: ClientFor) -> None:
        self._client_for = client_for

    @property
    def platform(self) -> str:
        return "slack"

    async def send_dm(self, user: UserRef, reply: Reply) -> None:
        message: LiveReply | None = None
        try:
            client = await self._client_for(user.workspace)
            opened = await client.conversations_open(users=user.user)
            channel = str(opened["channel"]["id"])
            message = LiveReply(client, channel, None)
            await message.finish(render_reply(reply))
            for file in reply.files:
                await client.files_upload_v2(
                    channel=channel,
                    content=file.content,
                    filename=file.filename,
                    title=file.title or file.filename,
                )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, LookupError) as exc:
            failure = _delivery_error(exc)
            if message is not None and message.posted:
                # Part of it is out (the text, say, without its chart): trying again
                # would send that part twice, so it counts as delivered.
                log.warning("slack: a direct message went out incomplete: %s", failure)
                return
            raise failure from None


def _delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, SlackApiError):
        code = slack_error_code(exc)
        return DeliveryError(
            f"Slack refused the direct message ({code})", retryable=code in _RETRYABLE
        )
    if isinstance(exc, LookupError):  # no installation for that workspace
        return DeliveryError(str(exc), retryable=False)
    return DeliveryError(f"Slack could not be reached ({type(exc).__name__})")
