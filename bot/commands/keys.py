"""``/byok add|list|remove|test|enable|disable|limit|models``: a user's own keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation

from bot.bounds import LABEL_MAX_CHARS, MONTHLY_LIMIT_MAX_USD, MONTHLY_LIMIT_MIN_USD
from bot.context import BotContext
from bot.formatting import limit_spend, money, spend
from bot.grammar import (
    CommandError,
    Flag,
    bounded_text,
    check_model_name,
    parse_flags,
    shown,
)
from bot.invocation import Invocation
from bot.provider_names import ProviderNames
from bot.remedy_text import CommandHints
from bot.reply import Field, Reply, ReplyEvent, SecretRequest, Section
from byok.errors import (
    InvalidKeyError,
    ProviderError,
    ProviderQuotaError,
    ProviderUnavailableError,
    VaultError,
)
from byok.keystore import StoredKey
from byok.secret import Secret, looks_like_key
from byok.service import KeyStatus
from byok.types import KeyInfo

__all__ = ["add", "add_key", "disable", "enable", "limit", "list_keys", "models", "remove", "test"]

ADD_USAGE = "/byok add <provider> [--label NAME] [--limit USD] [--models m1,m2]"


_LIMIT_RANGE = (
    f"Limits are {money(MONTHLY_LIMIT_MIN_USD)} to {money(MONTHLY_LIMIT_MAX_USD)} a month"
)
_INSTEAD_OF_ZERO = "to stop using a key, `/byok disable <provider>`; for no limit, use `off`."


def parse_usd(raw: str) -> Decimal | None:
    """A monthly limit: ``12.50``, ``$12.50`` or ``off``/``none`` (no limit), in range."""
    text = raw.strip().lstrip("$")
    if text.lower() in ("off", "none", "unlimited"):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if value.is_nan():
        raise CommandError(
            "The limit must be an amount in US dollars like `20` or `12.50`, or `off`; "
            f"not `{shown(raw)}`."
        )
    if value < 0:
        raise CommandError(
            "The limit must be a positive amount of US dollars like `20`, or `off` for none."
        )
    if value == 0:
        raise CommandError(
            f"A limit of $0 would refuse every request. {_LIMIT_RANGE}; {_INSTEAD_OF_ZERO}"
        )
    if value < MONTHLY_LIMIT_MIN_USD:
        raise CommandError(
            f"A limit of `{shown(raw)}` is less than {money(MONTHLY_LIMIT_MIN_USD)}, so it would "
            f"refuse every request. {_LIMIT_RANGE}; {_INSTEAD_OF_ZERO}"
        )
    if value > MONTHLY_LIMIT_MAX_USD:
        raise CommandError(
            f"A limit of `{shown(raw)}` is more than {money(MONTHLY_LIMIT_MAX_USD)}. "
            f"{_LIMIT_RANGE}; for no limit, use `off`."
        )
    return value


def _provider_word(inv_text: str, ctx: BotContext, usage: str) -> tuple[str, str]:
    words = inv_text.split(maxsplit=1)
    if not words:
        raise CommandError(
            f"Which provider? Usage: `{usage}` — providers: {', '.join(ctx.provider_ids)}."
        )
    provider = ctx.engine.catalog.resolve(words[0]).provider_id
    return provider, words[1] if len(words) > 1 else ""


def _models_list(raw: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in raw.replace(" ", ",").split(",") if m.strip())


def _checked_models(models: tuple[str, ...]) -> tuple[str, ...]:
    for model in models:
        check_model_name(model)
    return models


def _checked_request(request: SecretRequest) -> Decimal | None:
    """What a key form or ``/byok add`` asked for, checked like the flags; returns the limit."""
    if request.label is not None and len(request.label) > LABEL_MAX_CHARS:
        raise CommandError(
            f"A label is at most {LABEL_MAX_CHARS} characters (got {len(request.label)})."
        )
    _checked_models(request.allowed_models)
    return parse_usd(request.monthly_limit) if request.monthly_limit else None


async def add(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    flags = [
        Flag("label", bounded_text(LABEL_MAX_CHARS)),
        Flag("limit", lambda _n, raw: parse_usd(raw)),
        Flag("models", lambda _n, raw: _checked_models(_models_list(raw))),
    ]
    parsed = parse_flags(inv.text, flags, usage=ADD_USAGE)
    provider, rest = _provider_word(parsed.text, ctx, ADD_USAGE)
    key_text = rest.strip()
    limit_value = parsed.flags.get("limit")
    name = ctx.provider_names.label(provider)
    request = SecretRequest(
        provider_id=provider,
        label=parsed.flags.get("label"),
        monthly_limit=str(limit_value) if limit_value is not None else None,
        allowed_models=parsed.flags.get("models", ()),
    )
    if not key_text:
        yield Reply(
            text=f"Enter your {name} key privately.",
            secret_request=request,
        )
        return
    if not inv.private:
        yield Reply(
            tone="error",
            title="Key not stored",
            text=(
                "Never paste an API key in a shared channel. This key was not stored and "
                "was not sent anywhere, but others may have seen it: revoke it at "
                f"{name}, create a new one, and add it with `/byok add {provider}` "
                "(I will ask for it privately) or in a DM with me."
            ),
        )
        return
    yield await add_key(ctx, inv, request, Secret(key_text))


def _key_info_text(info: KeyInfo) -> str:
    details = []
    if info.models:
        details.append(f"{len(info.models)} models available")
    if info.credit_remaining is not None:
        credit = f"credit {money(info.credit_remaining)} left"
        if info.credit_limit is not None:
            credit += f" of {money(info.credit_limit)}"
        details.append(credit)
    if info.label:
        details.append(f"labelled “{info.label}” at the provider")
    return "; ".join(details)


def refused_text(name: str, exc: ProviderError, hints: CommandHints) -> str:
    """Why a key was not accepted; ``name`` is the provider as people know it."""
    if isinstance(exc, InvalidKeyError):
        reason = {
            "invalid": "it is not a valid key",
            "revoked": "the key has been revoked or disabled",
            "blocked": "the key or its team is blocked",
            "no_permission": "the key lacks permission to list models",
        }[exc.reason]
        return f"{name} refused this key: {reason}. Nothing was stored."
    if isinstance(exc, ProviderQuotaError):
        return (
            f"{name} says this key's account has no credit left. Nothing was stored; "
            f"add credit at {name} and try again."
        )
    if isinstance(exc, ProviderUnavailableError):
        return (
            f"Could not reach {name} to check the key ({exc.what}). Nothing was stored; "
            "try again in a minute."
        )
    return f"Could not check the key: {hints.error_text(exc)} Nothing was stored."


async def add_key(ctx: BotContext, inv: Invocation, request: SecretRequest, key: Secret) -> Reply:
    """Validate and store a key the adapter collected privately."""
    service = ctx.service(inv.user_ref)
    if not key or len(key.reveal()) < 8 or " " in key.reveal():
        return Reply(
            tone="error",
            text="That does not look like an API key. Nothing was stored.",
        )
    limit_value = _checked_request(request)
    provider_id = ctx.engine.catalog.resolve(request.provider_id).provider_id
    names = ctx.provider_names
    previous = await ctx.engine.keys.get(inv.user_ref, provider_id)
    try:
        stored, info = await service.add_key(
            request.provider_id,
            key,
            label=request.label,
            monthly_limit=limit_value,
            allowed_models=request.allowed_models or None,
        )
    except ProviderError as exc:
        return Reply(
            tone="error",
            title="Key not stored",
            text=refused_text(names.label(provider_id), exc, ctx.hints),
        )
    extra = _key_info_text(info)
    lines = [_stored_line(stored, previous, names)]
    if extra:
        lines.append(f"Checked with {names.label(stored.provider_id)}: {extra}.")
    if stored.monthly_limit is not None:
        lines.append(f"Monthly limit: {money(stored.monthly_limit)}.")
    elif previous is not None and previous.monthly_limit is not None:
        lines.append(
            f"No monthly limit now (the old key had {money(previous.monthly_limit)}): "
            f"set one with `/byok limit {stored.provider_id} <usd>`."
        )
    if stored.allowed_models:
        lines.append(f"Allowed models: {', '.join(stored.allowed_models)}.")
    lines.append(f"Ask with `/ask --provider {stored.provider_id} <question>`.")
    title = "Key added" if previous is None else "Key replaced"
    return Reply(tone="success", title=title, text="\n".join(lines))


def _stored_line(stored: StoredKey, previous: StoredKey | None, names: ProviderNames) -> str:
    name = names.label(stored.provider_id)
    if previous is None:
        return f"Stored your {name} key …{stored.last4}, encrypted."
    return (
        f"Replaced your {name} key …{previous.last4} with …{stored.last4}, "
        "encrypted. One key per provider: `--label` names a key, it does not add a second."
    )


def _status(status: KeyStatus) -> str:
    key = status.key
    if not status.readable:
        return (
            "cannot be read: it was encrypted with a master key this bot is not configured "
            "with (tell whoever runs the bot), or add it again with /byok add"
        )
    if not key.is_valid:
        return f"refused ({key.invalid_reason or 'invalid'}) — replace with /byok add"
    if not key.is_active:
        return "disabled"
    return "active"


def key_section(status: KeyStatus, names: ProviderNames) -> Section:
    """One key, under its provider's name and id (``xAI Grok (`xai`)``)."""
    key = status.key
    if key.monthly_limit is None:
        spent = spend(status.spent_this_month, status.unpriced_this_month)
    else:
        spent = limit_spend(status.spent_this_month, key.monthly_limit, status.unpriced_this_month)
    fields = [
        Field("Key", f"…{key.last4}" + (f" ({key.label})" if key.label else "")),
        Field("Status", _status(status)),
        # With a limit, interrupted requests count at their worst case until the month
        # ends (the provider may have billed them): /usage itemises that.
        Field("This month" if key.monthly_limit is None else "Counted against the limit", spent),
    ]
    if key.allowed_models:
        fields.append(Field("Allowed models", ", ".join(key.allowed_models)))
    if key.last_validated_at is not None:
        fields.append(Field("Last checked", key.last_validated_at.strftime("%Y-%m-%d %H:%M UTC")))
    return Section(title=names.label_with_id(key.provider_id), fields=tuple(fields))


async def list_keys(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    statuses = await ctx.service(inv.user_ref).get_user_api_keys()
    names = ctx.provider_names
    if not statuses:
        yield Reply(
            title="Your keys",
            text=(
                "You have no keys yet. Add one privately with `/byok add <provider>` — "
                f"providers: {', '.join(names.label_with_id(p) for p in ctx.provider_ids)}."
            ),
        )
        return
    yield Reply(title="Your keys", sections=tuple(key_section(s, names) for s in statuses))


async def remove(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    provider, _ = _provider_word(inv.text, ctx, "/byok remove <provider>")
    removed = await ctx.service(inv.user_ref).remove_key(provider)
    name = ctx.provider_names.label(provider)
    if removed:
        yield Reply(tone="success", text=f"Removed your {name} key. It is gone for good.")
    else:
        yield Reply(text=f"You had no {name} key stored.")


async def test(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    provider, _ = _provider_word(inv.text, ctx, "/byok test <provider>")
    service = ctx.service(inv.user_ref)
    name = ctx.provider_names.label(provider)
    try:
        info = await service.test_key(provider)
    except InvalidKeyError as exc:
        yield Reply(
            tone="error",
            text=(
                refused_text(name, exc, ctx.hints).replace(" Nothing was stored.", "")
                + f" The key is switched off; replace it with `/byok add {provider}`."
            ),
        )
        return
    except ProviderError as exc:
        text = f"Could not check your {name} key: {ctx.hints.error_text(exc)}"
        yield Reply(tone="warning", text=text)
        return
    extra = _key_info_text(info)
    yield Reply(
        tone="success",
        text=f"Your {name} key works" + (f": {extra}." if extra else "."),
    )


async def enable(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    provider, _ = _provider_word(inv.text, ctx, "/byok enable <provider>")
    await ctx.service(inv.user_ref).set_key_enabled(provider, True)
    yield Reply(tone="success", text=f"Your {ctx.provider_names.label(provider)} key is on again.")


async def disable(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    provider, _ = _provider_word(inv.text, ctx, "/byok disable <provider>")
    await ctx.service(inv.user_ref).set_key_enabled(provider, False)
    name = ctx.provider_names.label(provider)
    yield Reply(
        tone="success",
        text=f"Your {name} key is off; it stays stored. `/byok enable {provider}` turns it on.",
    )


async def limit(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    usage = "/byok limit <provider> <usd|off>"
    provider, rest = _provider_word(inv.text, ctx, usage)
    if not rest.strip():
        raise CommandError(f"How much a month? Usage: `{usage}`, e.g. `/byok limit {provider} 20`.")
    value = parse_usd(rest.strip())
    stored = await ctx.service(inv.user_ref).set_monthly_limit(provider, value)
    name = ctx.provider_names.label(provider)
    if stored.monthly_limit is None:
        yield Reply(tone="success", text=f"Your {name} key has no monthly limit now.")
    else:
        yield Reply(
            tone="success",
            text=(
                f"Your {name} key is limited to {money(stored.monthly_limit)} a month "
                "(calendar month, UTC). You are told at 80% and 100%."
            ),
        )


async def models(inv: Invocation, ctx: BotContext) -> AsyncIterator[ReplyEvent]:
    usage = "/byok models <provider> [model …|all]"
    provider, rest = _provider_word(inv.text, ctx, usage)
    service = ctx.service(inv.user_ref)
    name = ctx.provider_names.label(provider)
    chosen = _models_list(rest)
    if not chosen:
        entry = ctx.engine.catalog.get(provider)
        try:
            secret: Secret | None = await ctx.engine.keys.secret(inv.user_ref, provider)
        except VaultError:
            secret = None
        names: list[str] = []
        if secret is not None:
            try:
                names = [m.id for m in await entry.provider.list_models(secret)]
            except ProviderError as exc:
                exc.name_provider(name)
                text = f"Could not list models: {ctx.hints.error_text(exc)}"
                yield Reply(tone="warning", text=text)
                return
        stored = await ctx.engine.keys.get(inv.user_ref, provider)
        allowed = ", ".join(stored.allowed_models) if stored and stored.allowed_models else "all"
        text = f"Allowed for your {name} key: {allowed}. Default model: {entry.default_model}."
        if names:
            shown = ", ".join(names[:40]) + (
                f" … and {len(names) - 40} more" if len(names) > 40 else ""
            )
            text += f"\nYour key can use: {shown}"
        text += f"\nRestrict with `/byok models {provider} m1,m2`; `all` lifts it."
        yield Reply(title=f"{name} models", text=text)
        return
    if looks_like_key(rest):
        raise CommandError("That looks like a key, not a model name.")
    _checked_models(chosen)
    models_to_set: tuple[str, ...] = () if chosen == ("all",) else chosen
    stored_key = await service.set_allowed_models(provider, models_to_set)
    if stored_key.allowed_models:
        yield Reply(
            tone="success",
            text=f"Your {name} key may now only be used with: {', '.join(stored_key.allowed_models)}.",
        )
    else:
        yield Reply(tone="success", text=f"Your {name} key may be used with any model.")
