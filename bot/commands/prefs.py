"""``/byok default|fallback|prefs``: how a user's requests are routed and what is kept."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from bot.bounds import MAX_TOKENS
from bot.context import BotContext
from bot.formatting import plural
from bot.grammar import CommandError, check_model_name, closest, shown
from bot.invocation import Invocation
from bot.provider_names import ProviderNames
from bot.reply import Field, Reply, ReplyEvent, Section
from byok.preferences import Preferences

__all__ = ["PREFERENCES", "default", "fallback", "prefs", "prefs_section"]

_ON = {"on", "yes", "true", "enable", "enabled", "1"}
_OFF = {"off", "no", "false", "disable", "disabled", "0"}


def _switch(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise CommandError(f"`{name}` is on or off, not `{raw}`.")


def _tokens(name: str, raw: str) -> int | None:
    word = raw.strip().lower()
    if word != "0" and (word in _OFF or word == "none"):
        return None
    if not re.fullmatch(r"[+-]?\d+", word):
        raise CommandError(f"`{name}` needs a whole number of tokens or `off`, not `{shown(raw)}`.")
    # int() refuses over 4,300 digits; such a number is out of range anyway.
    value = int(word) if len(word) <= 30 else MAX_TOKENS + 1
    if not 1 <= value <= MAX_TOKENS:
        raise CommandError(
            f"`{name}` must be between 1 and {MAX_TOKENS:,} tokens, or `off` for no cap "
            f"(got {shown(raw.strip())})."
        )
    return value


_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400}


def _duration(name: str, raw: str) -> int | None:
    """``30m``, ``6h``, ``2d`` in seconds; ``default`` for the operator's default."""
    word = raw.strip().lower()
    if word in ("default", "none"):
        return None
    found = re.fullmatch(r"(\d{1,6})(s|m|min|h|d)", word)
    if found is None:
        raise CommandError(
            f"`{name}` is a time like `30m`, `6h` or `2d`, or `default` (got {shown(raw.strip())})."
        )
    return int(found[1]) * _UNITS[found[2]]


def duration_text(seconds: int) -> str:
    """``2 d``, ``6 h``, ``30 min``, ``45 s``: the largest unit that divides it."""
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class Preference:
    name: str  # as typed by users
    field: str  # on Preferences
    parse: Callable[[str, str], Any]
    help: str

    def show(self, prefs: Preferences) -> str:
        value = getattr(prefs, self.field)
        if isinstance(value, bool):
            return "on" if value else "off"
        if self.parse is _duration:
            return "default" if value is None else duration_text(value)
        return "off" if value is None else str(value)


PREFERENCES = (
    Preference("auto-switch", "auto_switch_provider", _switch,
               "when a provider fails, answer from your fallback"),
    Preference("max-tokens", "max_tokens_per_request", _tokens,
               "the most tokens an answer may use (caps --max-tokens)"),
    Preference("cost-optimization", "enable_cost_optimization", _switch,
               "route to the cheapest priced model among your keys"),
    Preference("history", "store_conversation_history", _switch,
               "keep thread messages as context (off: nothing is stored)"),
    Preference("quota-notices", "notify_on_quota_low", _switch,
               "tell me at 80% and 100% of a monthly limit"),
    Preference("digest", "weekly_digest", _switch, "the weekly usage digest by DM"),
    Preference("empty-digest", "digest_when_empty", _switch,
               "send the digest even in weeks without usage"),
    Preference("cache", "cache_answers", _switch,
               "answer an identical question again from your cache, free "
               "(`clear` deletes it; /ask --fresh skips it)"),
    Preference("cache-ttl", "cache_ttl_s", _duration,
               "how long a cached answer is served: 30m, 6h, 2d or default"),
)  # fmt: skip
_BY_NAME = {p.name: p for p in PREFERENCES}


def prefs_section(prefs: Preferences, names: ProviderNames) -> Section:
    default, fallback = prefs.default_provider, prefs.fallback_provider
    models = sorted(prefs.preferred_models.items())
    fields = [
        Field(
            "default provider", names.label(default) if default else "not set (first usable key)"
        ),
        Field(
            "fallback provider", names.label(fallback) if fallback else "not set (your other keys)"
        ),
        Field(
            "preferred models", ", ".join(f"{names.label(p)}: {m}" for p, m in models) or "defaults"
        ),
    ]
    fields.extend(Field(p.name, p.show(prefs)) for p in PREFERENCES)
    return Section(title="Preferences", fields=tuple(fields))


async def _set_provider(
    inv: Invocation, ctx: BotContext, field: str, label: str
) -> AsyncIterator[ReplyEvent]:
    word = inv.text.strip()
    usage = f"/byok {label} <provider|off>"
    if not word:
        raise CommandError(f"Usage: `{usage}` — providers: {', '.join(ctx.provider_ids)}.")
    service = ctx.service(inv.user_ref)
    if word.lower() in _OFF:
        await service.set_preferences(**{field: None})
        yield Reply(tone="success", text=f"Your {label} provider is no longer set.")
        return
    updated = await service.set_preferences(**{field: word})
    chosen = getattr(updated, field)
    keys = {k.key.provider_id for k in await service.get_user_api_keys() if k.key.usable}
    name = ctx.provider_names.label(chosen)
    warning = "" if chosen in keys else f" You have no usable {name} key yet: `/byok add {chosen}`."
    yield Reply(tone="success", text=f"Your {label} provider is now {name}.{warning}")


async def default(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    async for event in _set_provider(inv, ctx, "default_provider", "default"):
        yield event


async def fallback(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    async for event in _set_provider(inv, ctx, "fallback_provider", "fallback"):
        yield event


async def prefs(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    service = ctx.service(inv.user_ref)
    words = inv.text.split()
    if not words:
        current = await service.get_preferences()
        help_lines = [f"`{p.name}` — {p.help}" for p in PREFERENCES]
        help_lines.append("`model <provider> <model|off>` — the model used for that provider")
        yield Reply(
            sections=(
                prefs_section(current, ctx.provider_names),
                Section(title="Change with /byok prefs <name> <value>", bullets=tuple(help_lines)),
            ),
        )
        return
    name = words[0].lower()
    if name == "model":
        if len(words) != 3:
            raise CommandError("Usage: `/byok prefs model <provider> <model|off>`.")
        model = None if words[2].lower() in _OFF else check_model_name(words[2])
        updated = await service.set_preferred_model(words[1], model)
        entry = ctx.engine.catalog.resolve(words[1])
        provider = entry.provider_id
        chosen = updated.preferred_model(provider)
        name = ctx.provider_names.label(provider)
        text = (
            f"{name} answers with {chosen} unless you pass --model."
            if chosen
            else f"{name} uses its default model again."
        )
        if model is not None:
            _, renamed = ctx.engine.resolve(provider, model, entry.default_model)
            text += f" {renamed}" if renamed else ""
        yield Reply(tone="success", text=text)
        return
    preference = _BY_NAME.get(name)
    if preference is None and name in ("default", "fallback"):
        raise CommandError(f"Set that with `/byok {name} <provider>`, e.g. `/byok {name} openai`.")
    if preference is None:
        guess = closest(name, [*_BY_NAME, "model"])
        hint = f" Did you mean `{guess}`?" if guess else ""
        raise CommandError(
            f"Unknown preference `{name}`.{hint} Known: {', '.join([*_BY_NAME, 'model'])}."
        )
    if len(words) != 2:
        raise CommandError(f"Usage: `/byok prefs {preference.name} <value>`.")
    if preference.field == "cache_answers" and words[1].lower() == "clear":
        cleared = await service.clear_cache()
        yield Reply(tone="success", text=f"Deleted {plural(cleared, 'cached answer')}.")
        return
    value = preference.parse(preference.name, words[1])
    updated = await service.set_preferences(**{preference.field: value})
    note = ""
    if preference.field == "store_conversation_history" and not value:
        note = " Any stored history was deleted, and your cached answers with it."
    if preference.field == "cache_answers" and not value:
        note = " Your cached answers were deleted."
    if (
        preference.field == "cache_answers"
        and value
        and not ctx.engine.response_cache.settings.enabled
    ):
        note = (
            " The operator has turned caching off for now: nothing is kept until they turn it on."
        )
    yield Reply(
        tone="success", text=f"`{preference.name}` is now {preference.show(updated)}.{note}"
    )
