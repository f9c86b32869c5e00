"""Prometheus metrics: requests, latency, tokens and cost by provider, model and outcome.

Each process has one :class:`Metrics` with its own registry (no global state), fed by
the engine through :class:`byok.observer.EngineObserver` and by adapters.

Every label takes only known values, else :data:`OTHER`: each distinct value is a new
time series, and several come from what users type. A command is one of the command
table's; a provider one the catalog offers; a model its provider's configured default or
one the price table knows (at most :data:`MAX_MODELS` of them). Until
:meth:`Metrics.bind_catalog` is called no provider or model is known.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.commands.table import COMMANDS_BY_NAME
from byok.catalog import Catalog
from byok.observer import AttemptRecord
from byok.pricing import price_of
from byok.types import Usage

__all__ = ["CONTENT_TYPE_LATEST", "MAX_MODELS", "OTHER", "Metrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
#: The label value that stands for anything not known.
OTHER = "other"
#: Priced models get their own label up to this many; the rest count as :data:`OTHER`.
MAX_MODELS = 200
#: Values a platform reports (adapter error kinds) get their own label up to this many.
_MAX_KINDS = 100
_ONE_TOKEN = Usage(input_tokens=1, output_tokens=1)


class _Bounded:
    """Admits values to a label until ``most`` distinct ones have been seen."""

    def __init__(self, most: int, known: Iterable[str] = ()) -> None:
        self._most = most
        self._seen = set(known)

    def __contains__(self, value: str) -> bool:
        return value in self._seen

    def label(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._most:
            return OTHER
        self._seen.add(value)
        return value


class _Labels:
    """The values each user-influenced label may take."""

    def __init__(self) -> None:
        self._providers: frozenset[str] = frozenset()
        self._defaults: frozenset[tuple[str, str]] = frozenset()
        self._priced = _Bounded(MAX_MODELS)
        self._kinds = _Bounded(_MAX_KINDS)

    def bind(self, catalog: Catalog) -> None:
        self._providers = frozenset(catalog.ids)
        self._defaults = frozenset((e.provider_id, e.default_model) for e in catalog)

    def command(self, name: str) -> str:
        lowered = name.lower()
        return lowered if lowered in COMMANDS_BY_NAME else OTHER

    def provider(self, provider_id: str) -> str:
        return provider_id if provider_id in self._providers else OTHER

    def model(self, provider_id: str, model: str) -> str:
        if provider_id not in self._providers:
            return OTHER
        if (provider_id, model) in self._defaults or model in self._priced:
            return model
        if price_of(provider_id, model, _ONE_TOKEN) is None:
            return OTHER
        return self._priced.label(model)

    def kind(self, kind: str) -> str:
        return self._kinds.label(kind)


class Metrics:
    def __init__(self) -> None:
        self._labels = _Labels()
        self.registry = CollectorRegistry()
        labels = ("provider", "model", "outcome")
        self.requests = Counter(
            "byok_provider_requests",
            "Attempts at a provider, by outcome (success, error, cancelled), and questions "
            "answered from the response cache without one (outcome cached).",
            (*labels, "error_kind", "kind", "key_source"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "byok_provider_latency_seconds",
            "Time from sending a request to its last token (outcome cached: the lookup).",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "byok_tokens",
            "Tokens as the providers reported them.",
            ("provider", "model", "direction"),
            registry=self.registry,
        )
        self.cost = Counter(
            "byok_cost_usd",
            "Priced cost of successful attempts, in US dollars.",
            ("provider", "model"),
            registry=self.registry,
        )
        self.unpriced = Counter(
            "byok_unpriced_requests",
            "Successful attempts whose price is unknown.",
            ("provider", "model"),
            registry=self.registry,
        )
        self.saved = Counter(
            "byok_cache_saved_usd",
            "What answers served from the response cache cost when first asked, in US "
            "dollars (known savings only).",
            ("provider", "model"),
            registry=self.registry,
        )
        self.saved_unknown = Counter(
            "byok_cache_saved_unknown",
            "Answers served from the response cache whose saving is unknown (the original's "
            "price was).",
            ("provider", "model"),
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "byok_fallbacks",
            "Attempts made on a fallback provider.",
            ("provider",),
            registry=self.registry,
        )
        self.refusals = Counter(
            "byok_refusals",
            "Requests refused before any provider call (spend limit, rate limit, unpriced).",
            ("provider", "reason"),
            registry=self.registry,
        )
        self.adapter_errors = Counter(
            "byok_adapter_errors",
            "Errors talking to a chat platform.",
            ("platform", "kind"),
            registry=self.registry,
        )
        self.commands = Counter(
            "byok_commands",
            "Commands handled, by platform and command.",
            ("platform", "command"),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "byok_commands_in_flight", "Commands being handled now.", registry=self.registry
        )
        self.instances_live = Gauge(
            "byok_instances_live",
            "byok-bot run instances on this database, this one included.",
            registry=self.registry,
        )
        self.discord_shard_count = Gauge(
            "byok_discord_shard_count",
            "Discord gateway shards the bot runs with, across every instance.",
            registry=self.registry,
        )
        self.discord_shard_held = Gauge(
            "byok_discord_shard_held",
            "1 for each Discord gateway shard whose lease this instance holds.",
            ("shard",),
            registry=self.registry,
        )

    def bind_catalog(self, catalog: Catalog) -> None:
        """Know the providers offered and their default models (see the module's text)."""
        self._labels.bind(catalog)

    # EngineObserver
    def attempt_finished(self, record: AttemptRecord) -> None:
        provider = self._labels.provider(record.provider_id)
        model = self._labels.model(record.provider_id, record.model)
        base = (provider, model, record.outcome)
        self.requests.labels(
            *base, record.error_kind or "", record.request_kind, record.key_source
        ).inc()
        self.latency.labels(*base).observe(record.latency_s)
        if record.input_tokens:
            self.tokens.labels(provider, model, "input").inc(record.input_tokens)
        if record.output_tokens:
            self.tokens.labels(provider, model, "output").inc(record.output_tokens)
        if record.outcome == "cached":  # no provider was called: no cost, no fallback
            if record.saved is None:
                self.saved_unknown.labels(provider, model).inc()
            else:
                self.saved.labels(provider, model).inc(float(record.saved))
            return
        if record.outcome == "success":
            if record.cost is None:
                self.unpriced.labels(provider, model).inc()
            else:
                self.cost.labels(provider, model).inc(float(record.cost))
        if record.is_fallback:
            self.fallbacks.labels(provider).inc()

    def request_refused(self, provider_id: str, reason: str) -> None:
        provider = "any" if provider_id == "any" else self._labels.provider(provider_id)
        self.refusals.labels(provider, reason).inc()

    def command_started(self, platform: str, command: str) -> None:
        self.commands.labels(platform, self._labels.command(command)).inc()
        self.in_flight.inc()

    def command_finished(self) -> None:
        self.in_flight.dec()

    def adapter_error(self, platform: str, kind: str) -> None:
        self.adapter_errors.labels(platform, self._labels.kind(kind)).inc()

    def instances_seen(self, live: int) -> None:
        self.instances_live.set(live)

    def discord_shards(self, held: Iterable[int], shard_count: int) -> None:
        """The shards held now: only this instance's, so the label stays small."""
        self.discord_shard_count.set(shard_count)
        self.discord_shard_held.clear()
        for shard_id in held:
            self.discord_shard_held.labels(str(shard_id)).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
