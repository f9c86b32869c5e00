"""Every Slack-specific text a user may read, in one place.

Command replies come from ``bot/``; these cover what only Slack causes: a channel the
bot is not in, an expired form, rate limits, files it cannot read.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

__all__ = [
    "CHANNEL_ERRORS",
    "TRIGGER_ERRORS",
    "answer_cut_short",
    "api_error_text",
    "cannot_post",
    "form_expired",
    "greeting",
    "key_checked",
    "key_checking",
    "not_streamed",
    "slack_error_code",
    "suggested_prompts",
    "working_on",
]

CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "team_access_not_granted",
    }
)
TRIGGER_ERRORS = frozenset(
    {"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id", "trigger_expired"}
)


def slack_error_code(exc: SlackApiError) -> str:
    response = exc.response
    try:
        return str(response.get("error") or "unknown_error")
    except AttributeError:
        return "unknown_error"


def cannot_post(bot_user_id: str | None) -> str:
    me = f"<@{bot_user_id}>" if bot_user_id else "@byok-bot"
    return (
        f":no_entry: I can't post in this conversation. Invite me with `/invite {me}`, "
        "or talk to me in a direct message."
    )


def _me(bot_user_id: str | None) -> str:
    return f"<@{bot_user_id}>" if bot_user_id else "@byok-bot"


def not_streamed(bot_user_id: str | None) -> str:
    """Below an answer sent in one piece because the bot is not in the conversation."""
    return (
        f":bulb: I'm not a member here, so this came in one piece. `/invite {_me(bot_user_id)}` "
        "to a channel to see answers written as they stream."
    )


def answer_cut_short(shown: int, total: int, bot_user_id: str | None) -> str:
    """After the parts of a long answer Slack let the bot send without being a member."""
    return (
        f":scissors: That was part {shown} of {total}: Slack lets me send only "
        f"{shown + 1} messages here because I'm not a member. `/invite {_me(bot_user_id)}` "
        "and ask again, or ask me in a direct message, to get the whole answer."
    )


def form_expired() -> str:
    return (
        ":hourglass: Slack gave me too little time to open the form (it allows 3 seconds). "
        "Please try again."
    )


def api_error_text(code: str, bot_user_id: str | None = None) -> str:
    if code in CHANNEL_ERRORS:
        return cannot_post(bot_user_id)
    if code in TRIGGER_ERRORS:
        return form_expired()
    if code == "ratelimited":
        return ":snail: Slack is rate-limiting me right now. Please try again in a minute."
    return f":warning: Slack refused my message (`{code}`). Please try again."


def working_on(user: str, command: str) -> str:
    return f":hourglass_flowing_sand: Working on <@{user}>'s `/{command}`…"


def key_checking(name: str) -> str:
    """``name``: the provider as people know it (``ProviderNames.label``)."""
    return f":hourglass_flowing_sand: Checking your {name} key with {name}…"


def key_checked(name: str) -> str:
    """``name``: the provider as people know it (``ProviderNames.label``)."""
    return f"The check of the {name} key you submitted finished after its form was closed:"


def greeting() -> str:
    return (
        "Hi! I answer with *your own* API keys, so you pay your providers directly and see "
        "every cent. Ask me anything, share a meeting transcript (.txt, .vtt or .srt) to get "
        "a summary, or open my *Home* tab to manage keys and preferences."
    )


def suggested_prompts() -> list[dict[str, str]]:
    return [
        {"title": "What can you do?", "message": "/help"},
        {"title": "Show my keys", "message": "/byok list"},
        {"title": "What did I spend this month?", "message": "/usage"},
        {
            "title": "Explain BYOK briefly",
            "message": "Explain bring-your-own-key AI in two sentences.",
        },
    ]
