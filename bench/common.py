"""Shared pieces of the benchmarks: machine description, percentiles, a throwaway engine,
the fake providers in a process of their own, and /proc readings of a process."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from byok.catalog import Catalog, ProviderEntry
from byok.db import Database, upgrade
from byok.engine import Engine, EngineSettings
from byok.providers.base import ProviderSettings
from byok.providers.registry import BUILTIN_PROVIDERS, PROVIDER_ALIASES, build_provider
from byok.vault import Keyring, MasterKey

__all__ = [
    "ProcessClock",
    "Providers",
    "RemoteFakes",
    "cpu_seconds",
    "fake_services",
    "load_average",
    "machine",
    "make_engine",
    "percentiles",
    "rss_mib",
    "tree_cpu_seconds",
]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: report it)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB RAM"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{platform.processor() or platform.machine()}, {cpus} cores{memory}, "
        f"Python {platform.python_version()}, load average {load_average()}"
    )


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 of samples in seconds, returned in microseconds."""
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1e6, p99 * 1e6


def rss_mib(pid: int | None = None) -> float:
    """Resident set size of a process (``VmRSS`` in /proc), in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time a process has used (all its threads), from /proc."""
    stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children (a PostgreSQL server and its backends).

    Children that have exited are not counted: a pooled connection's backend lives on.
    """
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid or stat.parent.name == str(pid):  # ppid, or the process
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class ProcessClock:
    """Wall and CPU time of some processes over an interval: how busy each was."""

    pids: dict[str, int]

    def __post_init__(self) -> None:
        self._wall = 0.0
        self._cpu: dict[str, float] = {}

    def start(self) -> None:
        self._wall = time.monotonic()
        self._cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def busy(self) -> dict[str, float]:
        """CPU seconds per wall second of each process since :meth:`start` (1.0 = one core)."""
        wall = time.monotonic() - self._wall
        return {
            name: (cpu_seconds(pid) - self._cpu[name]) / wall for name, pid in self.pids.items()
        }


class Providers(Protocol):
    """Running fake providers: in this process (``FakeProviders``) or another one."""

    def __iter__(self) -> Iterator[str]: ...

    def settings(self, provider_id: str, **overrides: Any) -> ProviderSettings: ...

    def key(self, provider_id: str) -> str: ...


@dataclass
class RemoteFakes:
    """The fakes :mod:`bench.fake_services` runs in another process."""

    described: dict[str, Any]

    def __iter__(self) -> Iterator[str]:
        return iter(self.described)

    def base_url(self, provider_id: str) -> str:
        return str(self.described[provider_id]["base_url"])

    def model(self, provider_id: str) -> str:
        return str(self.described[provider_id]["models"][0])

    def key(self, provider_id: str, index: int = 0) -> str:
        keys = self.described[provider_id]["keys"]
        return str(keys[index % len(keys)])

    def settings(self, provider_id: str, **overrides: Any) -> ProviderSettings:
        values: dict[str, Any] = {
            "provider_id": provider_id,
            "wire": BUILTIN_PROVIDERS[provider_id].wire,
            "base_url": self.base_url(provider_id),
            "default_model": self.model(provider_id),
            "timeout_s": 30.0,
            "max_retries": 0,
        }
        values.update(overrides)
        return ProviderSettings(**values)


@asynccontextmanager
async def fake_services(
    keys: int = 0, latency_ms: Mapping[str, float] | None = None
) -> AsyncIterator[tuple[RemoteFakes, int]]:
    """Start :mod:`bench.fake_services`; yields the fakes and the process id.

    ``latency_ms``: how long each named provider waits before answering."""
    latency = ",".join(f"{pid}={ms:g}" for pid, ms in (latency_ms or {}).items())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.fake_services",
        "--keys",
        str(keys),
        "--latency-ms",
        latency,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the fake services did not start")
        yield RemoteFakes(json.loads(line)), process.pid
    finally:
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def make_engine(
    url: str,
    fakes: Providers,
    *,
    requests_per_minute: int = 10**9,
    master_key: bytes | None = None,
    **settings: Any,
) -> Engine:
    """An engine on ``url`` with every fake provider; ``settings``: more EngineSettings."""
    database = Database(url)
    await upgrade(database)
    entries = {
        pid: ProviderEntry(provider=build_provider(fakes.settings(pid)), display_name=pid)
        for pid in fakes
    }
    return Engine(
        database,
        Keyring(MasterKey.from_bytes(master_key or os.urandom(32))),
        Catalog(entries, PROVIDER_ALIASES),
        EngineSettings(requests_per_minute=requests_per_minute, **settings),
    )


def money(value: Decimal) -> str:
    return f"${value:.6f}"
