"""Shared pieces of the benchmarks: machine description, percentiles, a throwaway engine."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from byok.catalog import Catalog, ProviderEntry
from byok.db import Database, upgrade
from byok.providers.registry import PROVIDER_ALIASES, build_provider
from byok.service import Engine, EngineSettings
from byok.vault import Keyring, MasterKey
from tests.fakes.plugin import FakeProviders

__all__ = ["machine", "make_engine", "percentiles"]


def machine() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cpus} cores{memory}, Python {platform.python_version()}"


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of samples in seconds, returned in microseconds."""
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1e6, p99 * 1e6


async def make_engine(
    url: str, fakes: FakeProviders, *, requests_per_minute: int = 10**9
) -> Engine:
    database = Database(url)
    await upgrade(database)
    entries = {
        pid: ProviderEntry(provider=build_provider(fakes.settings(pid)), display_name=pid)
        for pid in fakes
    }
    return Engine(
        database,
        Keyring(MasterKey.from_bytes(os.urandom(32))),
        Catalog(entries, PROVIDER_ALIASES),
        EngineSettings(requests_per_minute=requests_per_minute),
    )


def money(value: Decimal) -> str:
    return f"${value:.6f}"
