"""Direct messages the bot sends on its own (weekly digests, spend alerts) in Slack.

``conversations.open`` finds the DM, ``chat.postMessage`` posts the reply (continuing in
its thread when long), and each file, such as a PNG chart, goes up with
``files_upload_v2``. Slack's refusals become :class:`~bot.messenger.DeliveryError`,
retryable when trying later may help.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import render_reply
from adapters.slack.streaming import LiveMessage
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
        try:
            client = await self._client_for(user.workspace)
            opened = await client.conversations_open(users=user.user)
            channel = str(opened["channel"]["id"])
            await LiveMessage(client, channel, None).finish(render_reply(reply))
            for file in reply.files:
                await client.files_upload_v2(
                    channel=channel,
                    content=file.content,
                    filename=file.filename,
                    title=file.title or file.filename,
                )
        except SlackApiError as exc:
            code = slack_error_code(exc)
            raise DeliveryError(
                f"Slack refused the direct message ({code})", retryable=code in _RETRYABLE
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Slack could not be reached ({type(exc).__name__})") from None
        except LookupError as exc:  # no installation for that workspace
            raise DeliveryError(str(exc), retryable=False) from None
