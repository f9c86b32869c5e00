"""``/help [command]``: every command with examples, as the command table describes them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from bot.commands.spec import ChatCommand
from bot.context import BotContext
from bot.grammar import CommandError, closest
from bot.invocation import Invocation
from bot.reply import Reply, ReplyEvent, Section

__all__ = ["help_command"]


async def help_command(
    inv: Invocation, ctx: BotContext, commands: Sequence[ChatCommand]
) -> AsyncIterator[ReplyEvent]:
    """The overview of ``commands``, or one command's examples when the text names it."""
    topic = inv.text.strip().lstrip("/").split(maxsplit=1)[0].lower() if inv.text.strip() else ""
    topics = {command.name: command for command in commands}
    if topic:
        if topic not in topics:
            guess = closest(topic, list(topics))
            hint = (
                f" Did you mean `/help {guess}`?"
                if guess
                else f" Help exists for: {', '.join(f'`{name}`' for name in topics)}."
            )
            raise CommandError(f"No help for `{topic}`.{hint}")
        command = topics[topic]
        yield Reply(
            title=f"/{topic}",
            text=command.summary,
            sections=(Section(title="Examples", bullets=command.examples),),
        )
        return
    sections = tuple(
        Section(title=f"/{command.name}", text=command.summary, bullets=command.examples[:2])
        for command in commands
        if command.name != "help"
    )
    yield Reply(
        title="byok-bot — bring your own keys",
        text=(
            "You pay your own providers, see every cent, and no one can read your keys. "
            f"Providers: {', '.join(ctx.provider_names.label_with_id(p) for p in ctx.provider_ids)}. "
            "`/help <command>` shows more examples."
        ),
        sections=sections,
    )
