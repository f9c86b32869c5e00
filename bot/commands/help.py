"""``/help [command]``: every command with examples."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.context import BotContext
from bot.grammar import CommandError, closest
from bot.invocation import Invocation
from bot.reply import Reply, ReplyEvent, Section

__all__ = ["HELP", "SUMMARIZE_EXAMPLE", "help_command"]

#: A pasted meeting on one line, as Discord and the console send it: three speaker turns.
SUMMARIZE_EXAMPLE = (
    "/summarize Ana: Let's ship the beta on Friday. "
    "Ben: Agreed. I'll update the docs by Thursday. Ana: Who tells support?"
)

HELP: dict[str, tuple[str, tuple[str, ...]]] = {
    "ask": (
        "Ask a question, routed by your preferences or to the provider you name.",
        (
            "/ask What is a monad, briefly?",
            "/ask --provider grok What happened in tech today?",
            "/ask --provider anthropic --model claude-3-haiku --max-tokens 200 Summarise RFC 9110",
            "/ask --temperature 1.2 Give me five project names",
        ),
    ),
    "summarize": (
        "Summarise a meeting transcript: paste it, or attach a .txt, .vtt or .srt file. "
        "You get an overview, decisions, action items and open questions.",
        (
            SUMMARIZE_EXAMPLE,
            "/summarize --provider openai   (with meeting.vtt attached)",
            "/summarize --file examples/standup.vtt   (in the terminal console)",
        ),
    ),
    "usage": (
        "What you asked and the attempts at providers behind it (fallbacks, failures), "
        "tokens and cost by provider and model, and your monthly limits.",
        ("/usage", "/usage week", "/usage month"),
    ),
    "home": (
        "Your settings on one page: your keys with this month's spend against their limits, "
        "your preferences and this month's usage. In Slack it is the bot's Home tab; "
        "elsewhere send `/home` (on Discord, in a DM to the bot).",
        ("/home",),
    ),
    "byok": (
        "Manage your own API keys and preferences. Keys are entered privately and "
        "stored encrypted; only their last four characters are ever shown.",
        (
            "/byok add openai   (asks for the key privately)",
            "/byok add openrouter --limit 20 --models openai/gpt-4o-mini",
            "/byok list",
            "/byok test anthropic",
            "/byok remove xai",
            "/byok disable google   ·   /byok enable google",
            "/byok limit openai 25   ·   /byok limit openai off",
            "/byok models openai   ·   /byok models openai gpt-4o-mini,gpt-4o",
            "/byok default anthropic   ·   /byok fallback openai",
            "/byok prefs   ·   /byok prefs auto-switch off   ·   /byok prefs model openai gpt-4o",
        ),
    ),
    "help": ("This help.", ("/help", "/help ask")),
}


async def help_command(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    topic = inv.text.strip().lstrip("/").split(maxsplit=1)[0].lower() if inv.text.strip() else ""
    if topic:
        if topic not in HELP:
            guess = closest(topic, list(HELP))
            hint = (
                f" Did you mean `/help {guess}`?"
                if guess
                else f" Help exists for: {', '.join(f'`{name}`' for name in HELP)}."
            )
            raise CommandError(f"No help for `{topic}`.{hint}")
        summary, examples = HELP[topic]
        yield Reply(
            title=f"/{topic}", text=summary, sections=(Section(title="Examples", bullets=examples),)
        )
        return
    sections = tuple(
        Section(title=f"/{name}", text=summary, bullets=examples[:2])
        for name, (summary, examples) in HELP.items()
        if name != "help"
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
