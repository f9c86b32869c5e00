"""Where a process spends its CPU, from a py-spy sample: the evidence behind BENCHMARKS.md.

Benchmarks call :func:`record` (``--profile``) to sample a running process with py-spy
(``pip install py-spy``; it is not a dependency of the bot) for some seconds, only while
a thread holds the GIL (``--gil``: CPU spent in Python, not waiting), and
:func:`summarize` to group the samples:

- by layer: the product's own code; the database (SQLAlchemy and its driver); provider
  SDKs and their HTTP client; slack-bolt / slack-sdk / aiohttp; the event loop;
- by the innermost product function on the stack (its own time plus the libraries it
  called), and inclusively;
- by the function on top of the stack (self time).

A raw sample file can also be summarised later::

    .venv/bin/python -m bench.hotspots profile.raw [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

__all__ = ["find_py_spy", "record", "summarize"]

_PRODUCT = ("byok/", "bot/", "adapters/")
#: Entry points every sample passes through (``asyncio.run`` is called there): not a layer.
_ENTRY = ("bot/cli.py", "adapters/cli.py", "adapters/run.py")
_DATABASE = {"sqlalchemy", "aiosqlite", "asyncpg", "sqlite3"}
_SDK = {
    "openai",
    "anthropic",
    "google",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "h11",
    "anyio",
    "pydantic",
    "pydantic_core",
    "genai_prices",
}
_CHAT = {"slack_sdk", "slack_bolt", "aiohttp", "multidict", "yarl", "discord"}
_FRAME = re.compile(r"\(([^()]*?):\d+\)$")


def find_py_spy() -> str | None:
    """py-spy from ``$PY_SPY``, beside this Python, or on the PATH."""
    candidates = [os.environ.get("PY_SPY"), str(Path(sys.executable).with_name("py-spy"))]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("py-spy")


async def record(pid: int, seconds: float, out: Path, rate: int = 500) -> bool:
    """Sample ``pid`` for ``seconds`` into ``out`` (py-spy raw format); False without py-spy."""
    py_spy = find_py_spy()
    if py_spy is None:
        print("profile skipped: py-spy not found (pip install py-spy, or set PY_SPY)")
        return False
    process = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--gil",
        "--rate",
        str(rate),
        "--duration",
        str(max(1, round(seconds))),
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await process.wait() == 0


def _path(frame: str) -> str:
    found = _FRAME.search(frame)
    return found.group(1) if found else ""


def _top(path: str) -> str:
    return path.split("/", 1)[0]


def _name(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def _layer(paths: list[str], product_at: list[int]) -> str:
    below = paths[product_at[-1] + 1 :] if product_at else paths
    tops = {_top(p) for p in below}
    if tops & _DATABASE:
        return "database: SQLAlchemy + driver"
    if tops & _SDK:
        return "provider SDKs + their HTTP client"
    if tops & _CHAT:
        return "slack-bolt / slack-sdk / aiohttp (incl. the HTTP server)"
    if product_at and not below:
        return "product code itself"
    if product_at:
        return "stdlib called by product code (asyncio, json, re, …)"
    return "event loop and other threads"


def _package(paths: list[str]) -> str:
    """The package of the innermost frame that is neither stdlib nor a harness (bench/)."""
    for path in reversed(paths):
        top = _top(path).removesuffix(".py")
        if path.startswith(_PRODUCT) and not path.startswith(_ENTRY):
            return "product code (" + path.split("/", 1)[0] + "/)"
        if not top or top.startswith("<") or top in sys.stdlib_module_names or top in _HARNESS:
            continue
        return top
    return "stdlib / event loop"


#: Entry frames (benchmarks, the ``byok-bot`` script, bot/ and adapters/ CLIs).
_HARNESS = {"bench", "tests", "bot", "adapters", "byok-bot"}


def summarize(raw: Path, top: int = 20) -> str:
    """Markdown: the share of samples by layer and by product function."""
    layers: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        paths = [_path(f) for f in frames]
        product_at = [
            i for i, p in enumerate(paths) if p.startswith(_PRODUCT) and not p.startswith(_ENTRY)
        ]
        layers[_layer(paths, product_at)] += n
        leaves[_name(frames[-1])] += n
        packages[_package(paths)] += n
        if product_at:
            innermost[_name(frames[product_at[-1]])] += n
            for name in {_name(frames[i]) for i in product_at}:
                inclusive[name] += n
    if not total:
        return "(no samples)"
    out = [f"{total:,} samples (only while holding the GIL)", "", "| share | layer |", "|---|---|"]
    out += [f"| {100 * n / total:.1f}% | {name} |" for name, n in layers.most_common()]
    out += ["", "| share | package doing the work (innermost third-party frame) |", "|---|---|"]
    out += [f"| {100 * n / total:.1f}% | {name} |" for name, n in packages.most_common(top)]
    out += ["", "| share | innermost product function (+ libraries it called) |", "|---|---|"]
    out += [f"| {100 * n / total:.1f}% | `{name}` |" for name, n in innermost.most_common(top)]
    out += ["", "| share | product function, inclusive |", "|---|---|"]
    out += [f"| {100 * n / total:.1f}% | `{name}` |" for name, n in inclusive.most_common(top)]
    out += ["", "| share | function on top of the stack (self time) |", "|---|---|"]
    out += [f"| {100 * n / total:.1f}% | `{name}` |" for name, n in leaves.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    print(summarize(args.raw, args.top))
