"""LiteLLM, SDK and proxy, against the same fake provider as bench/hot_path.py.

Runs in an environment of its own (LiteLLM is not a dependency of byok-bot): see
README.md beside this file. Imports nothing from the project; it starts the project's
fake providers (``bench/fake_services.py``) with the project's Python, so both
benchmarks hit the same fake, and a LiteLLM proxy (``litellm --config``, one worker, no
database) configured to send to it. Cases, the same request everywhere (one short
question, ``max_tokens=256``, OpenAI chat):

1. ``raw httpx``: one POST with a pooled httpx client (the floor, as in hot_path);
2. ``bare SDK``: the OpenAI SDK straight to the fake (the limit, as in hot_path);
3. ``litellm SDK``: ``litellm.acompletion`` with the fake's ``api_base``;
4. ``litellm proxy``: the OpenAI SDK to the proxy, which calls the fake.

Interleaved rounds, closed loop, and the same columns as hot_path. CPU per call is this
process's CPU over calls; for ``litellm proxy`` the proxy's CPU (all its processes) is
added, since that work is done for the caller too.

    /tmp/litellm-venv/bin/python bench/peers/litellm_peer.py [--quick] [--rounds 5]
        [--concurrency 1,20] [--byok-python .venv/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import openai

REPO = Path(__file__).resolve().parents[2]
QUESTION = "What is the capital of France?"
MODEL = "gpt-5.6-terra"
CASES = ("raw httpx", "bare SDK", "litellm SDK", "litellm proxy")
BASELINE = "bare SDK"
CALLS = {1: (200, 40), 20: (600, 100), 100: (1000, 200)}
POOL = httpx.Limits(max_connections=1000, max_keepalive_connections=100)  # the SDK's
FAKE_SATURATED = 0.85
Call = Callable[[], Awaitable[object]]


# --- processes -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children that are still alive."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_fake(python: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The project's fake providers in a process of their own (as bench.common starts them)."""
    process = subprocess.Popen(
        [python, "-m", "bench.fake_services"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the fake providers did not start ({python} -m bench.fake_services)")
    return process, json.loads(line)["openai"]


def start_proxy(
    fake: dict[str, Any], workdir: Path, master_key: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``litellm --config`` with one model sent to the fake; waits until it answers.

    It refuses to start without a master key; callers present that key.
    """
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: {fake['base_url']}\n"
        f"      api_key: {fake['keys'][0]}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    port = free_port()
    litellm = Path(sys.executable).with_name("litellm")
    log = (workdir / "proxy.log").open("wb")
    process = subprocess.Popen(
        [str(litellm), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": master_key,
        },
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the LiteLLM proxy exited: see {workdir / 'proxy.log'}")
        try:
            if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the LiteLLM proxy did not answer in 180 s: see {workdir / 'proxy.log'}")


# --- the calls -------------------------------------------------------------------------


def make_calls(
    fake: dict[str, Any], proxy_url: str, master_key: str, client: httpx.AsyncClient
) -> dict[str, Call]:
    # the price list it ships with, not a fetch at import (which retries when offline)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # type: ignore[import-not-found,unused-ignore]  # its own venv

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    base, key = fake["base_url"], fake["keys"][0]
    messages: Any = [{"role": "user", "content": QUESTION}]
    body = {"model": MODEL, "messages": messages, "max_completion_tokens": 256}
    bare = openai.AsyncOpenAI(api_key=key, base_url=base, max_retries=0, timeout=30.0)
    via_proxy = openai.AsyncOpenAI(
        api_key=master_key, base_url=f"{proxy_url}/v1", max_retries=0, timeout=30.0
    )

    async def raw() -> object:
        response = await client.post(
            f"{base}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        response.raise_for_status()
        return json.loads(response.content)

    async def sdk() -> object:
        return await bare.chat.completions.create(
            model=MODEL, messages=messages, max_completion_tokens=256
        )

    async def litellm_sdk() -> object:
        return await litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=messages,
            max_tokens=256,
            api_base=base,
            api_key=key,
            num_retries=0,
            timeout=30.0,
        )

    async def proxy() -> object:
        return await via_proxy.chat.completions.create(
            model=MODEL, messages=messages, max_completion_tokens=256
        )

    return {"raw httpx": raw, BASELINE: sdk, "litellm SDK": litellm_sdk, "litellm proxy": proxy}


# --- measuring (as bench/hot_path.py) ----------------------------------------------------


@dataclass
class Run:
    samples: list[float]
    wall: float
    cpu: float
    rss_mib: float
    fake_busy: float

    @property
    def p50(self) -> float:
        return statistics.median(self.samples) * 1e6

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6

    @property
    def per_second(self) -> float:
        return len(self.samples) / self.wall

    @property
    def cpu_us(self) -> float:
        return self.cpu / len(self.samples) * 1e6


@dataclass
class Series:
    concurrency: int
    case: str
    runs: list[Run] = field(default_factory=list)


async def measure(call: Call, calls: int, concurrency: int, fake: int, extra: int | None) -> Run:
    samples: list[float] = []
    per_user = max(1, calls // concurrency)

    async def user() -> None:
        for _ in range(per_user):
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)

    fake_before = cpu_seconds(fake)
    extra_before = cpu_seconds(extra) if extra else 0.0
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    await asyncio.sleep(0)  # let callbacks scheduled by the last answers run
    cpu = time.process_time() - cpu + (cpu_seconds(extra) - extra_before if extra else 0.0)
    fake_busy = (cpu_seconds(fake) - fake_before) / wall
    return Run(samples, wall, cpu, rss_mib(), fake_busy)


def spread(values: Sequence[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def paired(series: Series, base: Series, of: Callable[[Run, Run], float]) -> list[float]:
    return [of(r, b) for r, b in zip(series.runs, base.runs, strict=True)]


HEADER = (
    "| database | call | users | case | p50 µs | p99 µs | calls/s | CPU µs / call "
    "| added p50 µs | calls/s × SDK | p99 × SDK | CPU × SDK | RSS MiB |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def row(series: Series, base: Series) -> str:
    runs = series.runs
    cells = [
        "none",
        "openai chat",
        str(series.concurrency),
        series.case,
        spread([r.p50 for r in runs]),
        spread([r.p99 for r in runs]),
        spread([r.per_second for r in runs]),
        spread([r.cpu_us for r in runs]),
    ]
    if series is base:
        cells += ["—", "—", "—", "—"]
    else:
        cells += [
            f"**{spread(paired(series, base, lambda r, b: r.p50 - b.p50))}**",
            spread(paired(series, base, lambda r, b: r.per_second / b.per_second), ".2f"),
            spread(paired(series, base, lambda r, b: r.p99 / b.p99), ".2f"),
            spread(paired(series, base, lambda r, b: r.cpu_us / b.cpu_us), ".2f"),
        ]
    cells.append(f"{max(r.rss_mib for r in runs):,.0f}")
    return "| " + " | ".join(cells) + " |"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def run(
    args: argparse.Namespace, fake: dict[str, Any], fake_pid: int, proxy: Any, master_key: str
) -> None:
    proxy_process, proxy_url = proxy
    async with httpx.AsyncClient(timeout=30.0, limits=POOL) as client:
        calls = make_calls(fake, proxy_url, master_key, client)
        series = {(n, c): Series(n, c) for n in args.concurrency for c in args.cases}

        def extra(case: str) -> int | None:
            return proxy_process.pid if case == "litellm proxy" else None

        for n in args.concurrency:
            for case in args.cases:
                await measure(calls[case], max(2 * n, 20), n, fake_pid, extra(case))
        gc.collect()
        for round_number in range(args.rounds):
            for level, n in enumerate(args.concurrency):
                shift = (round_number + level) % len(args.cases)
                for case in [*args.cases[shift:], *args.cases[:shift]]:
                    run = await measure(calls[case], args.calls[n], n, fake_pid, extra(case))
                    series[n, case].runs.append(run)
            print(f"  round {round_number + 1} done", flush=True)
    print()
    print(HEADER)
    for (n, _case), found in series.items():
        print(row(found, series[n, BASELINE]))
    busiest = max((max(r.fake_busy for r in s.runs), s) for s in series.values())
    if busiest[0] >= FAKE_SATURATED:
        print(f"\n- WARNING: the fake was {busiest[0]:.0%} busy: it may be the bottleneck")
    print(
        f"\n- the fake provider's busiest run: {busiest[0]:.0%} of one core "
        f"({busiest[1].concurrency} users '{busiest[1].case}')"
    )
    print("- 'litellm proxy' CPU per call: this process + the proxy's processes")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--concurrency", default="1,20")
    parser.add_argument("--calls", type=int)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--byok-python",
        default=str(REPO / ".venv" / "bin" / "python"),
        help="the project's Python, which runs bench/fake_services.py",
    )
    args = parser.parse_args()
    args.cases = args.cases.split(",")
    if set(args.cases) - set(CASES) or BASELINE not in args.cases:
        parser.error(f"--cases: from {', '.join(CASES)}, with '{BASELINE}'")
    args.concurrency = [int(n) for n in args.concurrency.split(",")]
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.calls = {
        n: args.calls or CALLS.get(n, (40 * n, 10 * n))[1 if args.quick else 0]
        for n in args.concurrency
    }
    return args


def main() -> None:
    args = parse()
    print(f"uptime before: {uptime()}")
    print(
        f"litellm {version('litellm')}, openai {version('openai')}, httpx {version('httpx')}, "
        f"Python {sys.version.split()[0]}, {len(os.sched_getaffinity(0))} cores"
    )
    print(f"rounds: {args.rounds}; calls per case and round: {args.calls}", flush=True)
    fake_process, fake = start_fake(args.byok_python)
    proxy_process = None
    try:
        with tempfile.TemporaryDirectory(prefix="litellm-peer-") as tmp:
            master_key = "sk-" + secrets.token_hex(24)
            proxy_process, proxy_url = start_proxy(fake, Path(tmp), master_key)
            proxy = (proxy_process, proxy_url)
            asyncio.run(run(args, fake, fake_process.pid, proxy, master_key))
    finally:
        if proxy_process is not None:
            proxy_process.terminate()
            try:
                proxy_process.wait(10)
            except subprocess.TimeoutExpired:
                proxy_process.kill()
        assert fake_process.stdin is not None
        fake_process.stdin.close()  # the fakes serve until their stdin closes
        fake_process.wait(10)
    print(f"\nuptime after: {uptime()}")


if __name__ == "__main__":
    main()
