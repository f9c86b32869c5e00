"""Prometheus metrics: requests, latency, tokens and cost by provider, model and outcome.

Each process has one :class:`Metrics` with its own registry (no global state), fed by
the engine through :class:`byok.observer.EngineObserver` and by adapters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from byok.observer import AttemptRecord

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("provider", "model", "outcome")
        self.requests = Counter(
            "byok_provider_requests",
            "Attempts at a provider, by outcome (success, error, cancelled).",
            (*labels, "error_kind", "kind", "key_source"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "byok_provider_latency_seconds",
            "Time from sending a request to its last token.",
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

    # EngineObserver
    def attempt_finished(self, record: AttemptRecord) -> None:
        base = (record.provider_id, record.model, record.outcome)
        self.requests.labels(
            *base, record.error_kind or "", record.request_kind, record.key_source
        ).inc()
        self.latency.labels(*base).observe(record.latency_s)
        if record.input_tokens:
            self.tokens.labels(record.provider_id, record.model, "input").inc(record.input_tokens)
        if record.output_tokens:
            self.tokens.labels(record.provider_id, record.model, "output").inc(record.output_tokens)
        if record.outcome == "success":
            if record.cost is None:
                self.unpriced.labels(record.provider_id, record.model).inc()
            else:
                self.cost.labels(record.provider_id, record.model).inc(float(record.cost))
        if record.is_fallback:
            self.fallbacks.labels(record.provider_id).inc()

    def request_refused(self, provider_id: str, reason: str) -> None:
        self.refusals.labels(provider_id, reason).inc()

    def command_started(self, platform: str, command: str) -> None:
        self.commands.labels(platform, command).inc()
        self.in_flight.inc()

    def command_finished(self) -> None:
        self.in_flight.dec()

    def adapter_error(self, platform: str, kind: str) -> None:
        self.adapter_errors.labels(platform, kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
