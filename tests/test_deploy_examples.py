"""The deployment examples stay consistent with the bot they deploy.

``deploy/kubernetes.example.yaml`` and ``compose.example.yaml`` repeat facts the code
owns: the drain grace (``[bot] shutdown_grace_s`` and what a stop adds after it), the
HTTP routes the probes ask, the port, and that several instances need PostgreSQL. The
files are read as text (no YAML library is a dependency), and the Kubernetes config
file is loaded by the bot's own configuration loader.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from adapters.run import CANCEL_WAIT_S, FLUSH_WAIT_S
from bot.config import BotSettings, Config, load_config
from bot.http_server import HttpServer

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes.example.yaml"
COMPOSE = ROOT / "compose.example.yaml"
#: What a stop may take beyond the grace: recording cancelled commands, the last usage rows.
AFTER_GRACE_S = CANCEL_WAIT_S + FLUSH_WAIT_S


def _served_paths() -> set[str]:
    """The routes the bot's HTTP server serves (its route table, not a copy of it)."""
    server = object.__new__(HttpServer)  # the routes need no engine; skip binding one
    server.extra_routes = ()
    return {route.resource.canonical for route in server.app().router.routes() if route.resource}


def _config_map_toml(text: str) -> str:
    """The ``config.toml: |`` block of the ConfigMap, dedented."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "config.toml: |") + 1
    block: list[str] = []
    for line in lines[start:]:
        if line.strip() and len(line) - len(line.lstrip()) <= 2:
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def _one(pattern: str, text: str) -> str:
    found = re.findall(pattern, text, flags=re.MULTILINE)
    assert len(found) == 1, (pattern, found)
    return str(found[0])


def _load(kubernetes: str, folder: Path) -> Config:
    """The ConfigMap's config.toml with the Secret's environment, as a pod loads it."""
    config_file = folder / "config.toml"
    config_file.write_text(_config_map_toml(kubernetes))
    secret = {
        "DATABASE_URL": "postgresql+asyncpg://byok:secret@postgres.example.internal/byok",
        "BYOK_ENCRYPTION_KEY": "ab" * 32,
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_APP_TOKEN": "xapp-1",
        "DISCORD_TOKEN": "token",
    }
    config, _ = load_config(config_file, secret)
    return config


@pytest.fixture
def kubernetes() -> str:
    return KUBERNETES.read_text()


def test_the_kubernetes_config_is_one_the_bot_accepts(kubernetes: str, tmp_path: Path) -> None:
    config = _load(kubernetes, tmp_path)
    assert config.database.url.startswith("postgresql+asyncpg://")
    assert config.bot.instance_name is None  # each pod names itself after its host
    assert config.http.host == "0.0.0.0"
    assert _one(r"^\s+containerPort: (\d+)$", kubernetes) == str(config.http.port)


def test_kubernetes_waits_longer_than_a_graceful_stop(kubernetes: str, tmp_path: Path) -> None:
    config = _load(kubernetes, tmp_path)
    grace = max(config.bot.shutdown_grace_s, BotSettings().shutdown_grace_s)
    pre_stop = int(_one(r'command: \["sleep", "(\d+)"\]', kubernetes))
    termination = int(_one(r"terminationGracePeriodSeconds: (\d+)", kubernetes))
    assert termination > pre_stop + grace + AFTER_GRACE_S


def test_the_kubernetes_probes_ask_routes_the_bot_serves(kubernetes: str) -> None:
    probes = dict(
        re.findall(
            r"(\w+Probe):\s*\n\s*httpGet:\s*\n\s*path: (\S+)\n\s*port: http$",
            kubernetes,
            flags=re.MULTILINE,
        )
    )
    assert probes == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert set(probes.values()) <= _served_paths()
    assert "kind: PodDisruptionBudget" in kubernetes
    assert _one(r"^  replicas: (\d+)$", kubernetes) == "3"


def test_compose_scales_out_on_postgresql_without_port_clashes() -> None:
    compose = COMPOSE.read_text()
    assert "postgresql+asyncpg://" in _one(r"^\s+DATABASE_URL: (\S+)$", compose)
    # A container port alone: each scaled instance gets its own random host port.
    assert _one(r"^\s+ports:\n\s+- \"(\S+)\"$", compose) == "8080"
    assert "instance_name" not in re.sub(r"#.*", "", compose)
    stop = float(_one(r"^\s+stop_grace_period: (\d+)s$", compose))
    assert stop > BotSettings().shutdown_grace_s + AFTER_GRACE_S
