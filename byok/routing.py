"""Which provider and model answer a request, and what to try when they fail.

Order of choice: the provider the user named; else cost optimisation (cheapest
priced model among their usable keys, operator keys only if they hold none) when enabled; else their default provider;
else the first provider they hold a usable key for; else an operator key where the
operator allows one. Fallbacks are added only when auto-switch is on: the user's
fallback provider, else their other usable keys. An operator key is never used as
a silent fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from byok.catalog import Catalog, ProviderEntry
from byok.errors import ByokError, NoKeyError, NoVisionModelError
from byok.images import sees_images
from byok.keystore import StoredKey
from byok.money import usd
from byok.preferences import Preferences
from byok.pricing import worst_case_cost
from byok.providers.models import provider_of_model
from byok.providers.registry import BUILTIN_PROVIDER_IDS
from byok.remedies import AddKey, CheckKey, ChooseModel, EnableKey, SetAllowedModels
from byok.usage import KeySource
from byok.wording import with_article

__all__ = ["Candidate", "ModelNotAllowedError", "ResolveModel", "RoutePlan", "plan_route"]

# (provider id, typed model or None, provider default) -> (model to send, note or None)
ResolveModel = Callable[[str, str | None, str], tuple[str, str | None]]


class ModelNotAllowedError(ByokError):
    """The key's owner restricted it to other models."""

    def __init__(
        self, provider_id: str, model: str, allowed: Sequence[str], *, name: str | None = None
    ) -> None:
        super().__init__(
            f"{model} not allowed for {provider_id} key",
            explanation=lambda name: f"Your {name} key is limited to: {', '.join(allowed)}.",
            advice=(
                "Ask with one of those (",
                ChooseModel(),
                "), or change the list with ",
                SetAllowedModels(provider_id),
                ".",
            ),
            name=name or provider_id,
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    provider_id: str
    model: str
    key_source: KeySource
    reason: str
    is_fallback: bool = False


@dataclass(frozen=True, slots=True)
class RoutePlan:
    candidates: tuple[Candidate, ...]
    notes: tuple[str, ...] = ()


def _source(entry: ProviderEntry, keys: dict[str, StoredKey]) -> KeySource | None:
    key = keys.get(entry.provider_id)
    if key is not None and key.usable:
        return "user"
    if entry.operator_key_usable:
        return "operator"
    return None


def _unusable_key_error(entry: ProviderEntry, key: StoredKey | None) -> ByokError:
    pid, name = entry.provider_id, entry.display_name
    if key is not None and not key.is_valid:
        return ByokError(
            f"{pid} key marked invalid ({key.invalid_reason})",
            explanation=(
                f"Your {name} key (…{key.last4}) was refused by {name} "
                f"({key.invalid_reason or 'invalid'}) and is switched off."
            ),
            advice=(
                "Replace it with ",
                AddKey(pid),
                ", or check it again with ",
                CheckKey(pid),
                ".",
            ),
        )
    if key is not None and not key.is_active:
        return ByokError(
            f"{pid} key disabled",
            explanation=f"Your {name} key is disabled.",
            advice=("Turn it back on with ", EnableKey(pid), "."),
        )
    return NoKeyError(pid, name=name)


def _model_for(
    entry: ProviderEntry,
    prefs: Preferences,
    key: StoredKey | None,
    resolve: ResolveModel,
    notes: list[str],
    requested: str | None = None,
) -> str:
    pid = entry.provider_id
    model, note = resolve(pid, requested or prefs.preferred_model(pid), entry.default_model)
    if key is not None and key.allowed_models and model not in key.allowed_models:
        if requested:
            raise ModelNotAllowedError(pid, model, key.allowed_models, name=entry.display_name)
        model, note = resolve(pid, key.allowed_models[0], entry.default_model)
    if note and note not in notes:
        notes.append(note)
    return model


def _cheapest(
    options: Sequence[tuple[ProviderEntry, KeySource, StoredKey | None]],
    prefs: Preferences,
    resolve: ResolveModel,
    input_tokens: int,
    max_tokens: int,
) -> tuple[Candidate, str] | None:
    priced: list[tuple[Decimal, str, str, KeySource]] = []
    for entry, source, key in options:
        pid = entry.provider_id
        names = {entry.default_model, prefs.preferred_model(pid) or entry.default_model}
        if key is not None and key.allowed_models:
            names = set(key.allowed_models)
        for name in sorted(names):
            model, _ = resolve(pid, name, entry.default_model)
            cost = worst_case_cost(pid, model, input_tokens, max_tokens)
            if cost is not None:
                priced.append((cost, pid, model, source))
    if not priced:
        return None
    priced.sort(key=lambda item: item[0])
    cost, pid, model, source = priced[0]
    runner_up = next((p for p in priced[1:] if (p[1], p[2]) != (pid, model)), None)
    called = {entry.provider_id: entry.display_name for entry, _, _ in options}
    note = (
        f"Cost optimisation chose {model} from {called[pid]} (at most {usd(cost)} for this request"
    )
    if runner_up is not None:
        other_cost, other, other_model, _ = runner_up
        note += f"; next cheapest {other_model} from {called[other]} at {usd(other_cost)}"
    note += ")."
    return Candidate(pid, model, source, "cheapest"), note


def plan_route(
    catalog: Catalog,
    prefs: Preferences,
    keys: Sequence[StoredKey],
    *,
    resolve: ResolveModel,
    provider: str | None = None,
    model: str | None = None,
    input_tokens: int = 0,
    max_tokens: int = 1024,
    images: bool = False,
) -> RoutePlan:
    """The ordered candidates for one request. Raises a user-facing error when none exist.

    With ``images`` every candidate is a model that reads images (:func:`_seeing`)."""
    by_provider = {k.provider_id: k for k in keys}
    notes: list[str] = []
    primary: Candidate | None = None
    if provider is None and model is not None:
        provider = _owner_of(catalog, prefs, model, notes)

    if provider is not None:
        entry = catalog.resolve(provider)
        source = _source(entry, by_provider)
        if source is None:
            raise _unusable_key_error(entry, by_provider.get(entry.provider_id))
        key = by_provider.get(entry.provider_id) if source == "user" else None
        if model is None and prefs.enable_cost_optimization:
            best = _cheapest([(entry, source, key)], prefs, resolve, input_tokens, max_tokens)
            if best is not None:
                primary, note = best
                notes.append(note)
        if primary is None:
            chosen = _model_for(entry, prefs, key, resolve, notes, model)
            primary = Candidate(entry.provider_id, chosen, source, "you asked for it")
    else:
        options = [
            (entry, source, by_provider.get(entry.provider_id) if source == "user" else None)
            for entry in catalog
            if (source := _source(entry, by_provider)) is not None
        ]
        if prefs.enable_cost_optimization and model is None:
            # Among the user's own keys; the operator's allowance only when they hold none.
            own = [option for option in options if option[1] == "user"]
            best = _cheapest(own or options, prefs, resolve, input_tokens, max_tokens)
            if best is not None:
                primary, note = best
                notes.append(note)
        if primary is None and prefs.default_provider in catalog:
            entry = catalog.get(prefs.default_provider)  # type: ignore[arg-type]
            source = _source(entry, by_provider)
            if source is not None:
                key = by_provider.get(entry.provider_id) if source == "user" else None
                chosen = _model_for(entry, prefs, key, resolve, notes, model)
                primary = Candidate(entry.provider_id, chosen, source, "your default provider")
            elif not prefs.auto_switch_provider:
                raise _unusable_key_error(entry, by_provider.get(entry.provider_id))
            else:
                notes.append(
                    f"Your default provider {entry.display_name} has no usable key, "
                    "so another was used."
                )
        if primary is None:
            ordered = sorted(options, key=lambda o: o[1] != "user")  # own keys first
            if not ordered:
                raise _no_keys_at_all(catalog)
            entry, source, key = ordered[0]
            chosen = _model_for(entry, prefs, key, resolve, notes, model)
            why = "your only usable key" if source == "user" else "the operator's shared key"
            primary = Candidate(entry.provider_id, chosen, source, why)

    candidates = [primary]
    if prefs.auto_switch_provider:
        candidates.extend(_fallbacks(catalog, prefs, by_provider, resolve, primary, notes))
    return RoutePlan(
        tuple(_seeing(catalog, candidates, by_provider, resolve, notes) if images else candidates),
        tuple(notes),
    )


def _seeing(
    catalog: Catalog,
    candidates: Sequence[Candidate],
    keys: dict[str, StoredKey],
    resolve: ResolveModel,
    notes: list[str],
) -> list[Candidate]:
    """The candidates, each with a model that reads images: a model known not to
    (:func:`byok.images.sees_images`) is replaced by the provider's default model or the
    first of the key's allowed models that does, and the reply says so; a provider with
    none is dropped, and the next one answers. None left: NoVisionModelError."""
    kept: list[Candidate] = []
    for candidate in candidates:
        pid = candidate.provider_id
        if sees_images(pid, candidate.model) is not False:
            kept.append(candidate)
            continue
        entry = catalog.get(pid)
        key = keys.get(pid) if candidate.key_source == "user" else None
        options = key.allowed_models if key is not None and key.allowed_models else ()
        models = [resolve(pid, m, entry.default_model)[0] for m in options] or [entry.default_model]
        seeing = next((m for m in models if sees_images(pid, m)), None)
        if seeing is not None:
            notes.append(
                f"{candidate.model} does not read images, so {entry.display_name}'s "
                f"{seeing} answered."
            )
            kept.append(replace(candidate, model=seeing))
        else:
            notes.append(f"No {entry.display_name} model you can use reads images.")
    if not kept:
        only = {c.provider_id for c in candidates}
        asked = only.pop() if len(only) == 1 else None
        raise NoVisionModelError(asked, name=catalog.get(asked).display_name if asked else None)
    if kept[0].provider_id != candidates[0].provider_id:
        first = catalog.get(kept[0].provider_id).display_name
        notes.append(f"{first} answered, as its models read images.")
    return kept


def _owner_of(catalog: Catalog, prefs: Preferences, model: str, notes: list[str]) -> str | None:
    """A model named alone (``claude-3-haiku``) means its maker (anthropic): the provider
    such a name names."""
    if prefs.default_provider not in (None, *BUILTIN_PROVIDER_IDS):
        return None  # an operator's own endpoint (Ollama, vLLM) serves names of every shape
    owner = provider_of_model(model)
    if owner is None or owner not in catalog:
        return None
    name = catalog.get(owner).display_name
    notes.append(f"`{model}` is {with_article(name)} model, so {name} was asked.")
    return owner


def _fallbacks(
    catalog: Catalog,
    prefs: Preferences,
    keys: dict[str, StoredKey],
    resolve: ResolveModel,
    primary: Candidate,
    notes: list[str],
) -> list[Candidate]:
    chosen: list[Candidate] = []
    if prefs.fallback_provider and prefs.fallback_provider in catalog:
        entry = catalog.get(prefs.fallback_provider)
        source = _source(entry, keys)
        if source is not None and entry.provider_id != primary.provider_id:
            key = keys.get(entry.provider_id) if source == "user" else None
            model = _model_for(entry, prefs, key, resolve, notes)
            chosen.append(Candidate(entry.provider_id, model, source, "your fallback", True))
        return chosen
    for entry in catalog:
        key = keys.get(entry.provider_id)
        if entry.provider_id == primary.provider_id or key is None or not key.usable:
            continue
        model = _model_for(entry, prefs, key, resolve, notes)
        chosen.append(Candidate(entry.provider_id, model, "user", "your other key", True))
    return chosen


def _no_keys_at_all(catalog: Catalog) -> ByokError:
    return ByokError(
        "user has no keys",
        explanation="You have no API keys yet.",
        advice=("Add one privately with ", AddKey(), f" (providers: {', '.join(catalog.ids)})."),
    )
