"""Logs: one JSON object a line or readable text, and never a secret in them.

The canary test builds fresh secrets of every shape at run time — a key for each
provider, an operator key, Slack bot and app tokens and signing secret, a Discord
token, the master key — makes every path that could carry one produce output at DEBUG
level (providers echoing the key in their errors, Slack and Discord errors whose bodies
hold tokens, tracebacks, the configuration, a refused configuration), and finds none
of them anywhere in what the processes wrote, nor in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal

from bot.logs import LIBRARY_LOGGERS
from tests.fakes.loopback import Fault
from tests.ops.conftest import Deployment, slack_user
from tests.ops.harness import ROOT, BotProcess, idle

PROVIDER_KEYS: dict[str, Callable[[], str]] = {
    "openai": lambda: "sk-proj-" + secrets.token_urlsafe(36),
    "anthropic": lambda: "sk-ant-api03-" + secrets.token_urlsafe(40),
    "google": lambda: "AIza" + "".join(secrets.choice(string.ascii_letters) for _ in range(35)),
    "xai": lambda: "xai-" + secrets.token_urlsafe(40),
    "openrouter": lambda: "sk-or-v1-" + secrets.token_hex(32),
}


async def test_json_logs_are_one_object_a_line(deployment: Deployment) -> None:
    config = deployment.write(deployment.settings(discord=True, digest=True, log_format="json"))
    await deployment.seed([(slack_user("U111"), "openai", None)], config)
    bot = await deployment.start(config)
    deployment.fakes["openai"].inject(Fault.http(500), path="/chat/completions")
    assert await deployment.sender.command(bot, "/ask", "Hi", user="U111") == 200
    assert await deployment.sender.command(bot, "/ask", "Hi again", user="U111") == 200
    await idle(bot, commands=2)
    assert await bot.stop() == 0

    records = [json.loads(line) for line in bot.lines]  # every line parses
    assert all(isinstance(r, dict) for r in records)
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    loggers = {r["logger"] for r in records}
    assert {
        "byok.run",
        "adapters.slack.adapter",
        "discord.client",
        "bot.digest.scheduler",
    } <= loggers
    messages = [r["message"] for r in records]
    assert any(m.startswith("started: Slack") for m in messages)
    assert messages[-1] == "byok-bot stopped: usage written, database closed"


async def test_no_secret_reaches_the_output_whatever_path_it_takes(
    deployment: Deployment,
) -> None:
    keys = {pid: deployment.fakes[pid].add_key(make()) for pid, make in PROVIDER_KEYS.items()}
    operator_key = "sk-svcacct-" + secrets.token_urlsafe(36)
    deployment.slack_app_token = "xapp-1-A111-" + secrets.token_hex(24)
    canaries = {
        **{f"{pid} key": key for pid, key in keys.items()},
        "operator key": operator_key,
        "Slack bot token": deployment.slack_bot_token,
        "Slack app token": deployment.slack_app_token,
        "Slack signing secret": deployment.signing_secret,
        "Discord token": deployment.discord_token,
        "master key": deployment.master_key,
    }
    everything = " ".join(canaries.values())

    sections = deployment.settings(discord=True)
    sections["logging"]["level"] = "DEBUG"
    sections["slack"]["signing_secret"] = deployment.signing_secret  # in the file, not the env
    sections["providers.openai"]["allow_operator_key"] = True
    config = deployment.write(sections)
    env = deployment.env(OPENAI_API_KEY=operator_key, SLACK_APP_TOKEN=deployment.slack_app_token)
    del env["SLACK_SIGNING_SECRET"]
    await deployment.seed([(slack_user("U111"), pid, Decimal(20)) for pid in keys], config)
    bot = await deployment.start(config, env=env)

    # Providers that echo the key they were sent (and every other secret) in their errors.
    for pid, key in keys.items():
        fake = deployment.fakes[pid]
        fake.inject(Fault("http", status=400, message=f"bad key {key} {everything}"))
        fake.inject(Fault("http", status=401, message=f"Incorrect API key {key}"))
    for pid in keys:
        assert await deployment.sender.command(bot, "/ask", f"--provider {pid} hi") == 200
        assert await deployment.sender.command(bot, "/byok", f"test {pid}") == 200
    await idle(bot, commands=2 * len(keys))
    # Slack answers an error holding tokens; then its connection drops (a traceback).
    platform_secrets = " ".join(
        v for k, v in canaries.items() if "key" not in k or k == "master key"
    )
    deployment.slack.fail("chat.postMessage", f"invalid_auth {platform_secrets}")
    assert await deployment.sender.command(bot, "/ask", "--provider openai hi") == 200
    await bot.wait_for("slack: a call was refused")
    deployment.slack.inject(Fault.disconnect(), path="/api/chat.postEphemeral", times=2)
    assert await deployment.sender.command(bot, "/usage", "") == 200
    await bot.wait_for("slack: /usage failed (incident")
    # Discord refuses an answer with a body holding tokens.
    body = {"message": f"Missing Permissions {platform_secrets}", "code": 50013}
    deployment.discord.inject(Fault.http(403, body), path="/callback")
    events = deployment.events
    await deployment.discord.dispatch("INTERACTION_CREATE", events.command("help"))
    await bot.wait_for("Discord refused")
    await idle(bot, commands=2 * len(keys) + 1)
    metrics = await bot.get("/metrics")
    providers = await bot.get("/api/byok/providers")
    assert await bot.stop() == 0

    # A refused configuration holding secrets, in a second process.
    bad = deployment.root / "bad.toml"
    bad.write_text(
        f'[discord]\nenabled = true\ntokn = "{deployment.discord_token}"\n'
        f'[slack]\nsigning_secret = 12\nbot_token = ["{deployment.slack_bot_token}"]\n'
    )
    refused = await BotProcess.start(bad, env)
    deployment.bots.append(refused)
    assert await refused.exit_code() == 2

    output = "\n".join([bot.output, refused.output, metrics[1], providers[1]])
    leaked = [name for name, value in canaries.items() if value in output]
    assert not leaked, f"leaked: {leaked}"
    # Nor did a provider key, echoed by its provider, ever travel to Slack or Discord.
    sent = [*deployment.slack.requests, *deployment.discord.requests]
    for name, value in canaries.items():
        if name.endswith(" key") and name != "master key":
            assert not any(value.encode() in r.body or value in r.url for r in sent), name
    # The paths really ran: secrets were met and masked, tracebacks were written.
    assert "[redacted]" in bot.output
    assert "Traceback (most recent call last)" in bot.output
    assert "unknown setting [discord] tokn" in refused.output
    assert "a hidden value" in refused.output
    assert bot.has("slack: a call was refused (invalid_auth [redacted]")


async def test_commands_other_than_run_mask_the_configured_secrets_too(
    deployment: Deployment,
) -> None:
    """Secrets shaped like no key (the master key, an operator key) are masked as literals
    by ``byok-bot digest`` as by ``run``: here Slack echoes them in its refusal."""
    operator_key = "opkey-" + secrets.token_hex(12)
    canaries = {"master key": deployment.master_key, "operator key": operator_key}
    sections = deployment.settings(digest=True)
    sections["providers.openai"]["allow_operator_key"] = True
    config = deployment.write(sections)
    env = deployment.env(OPENAI_API_KEY=operator_key)
    await deployment.seed(
        [(slack_user("U111"), "openai", None)], config, U111={"digest_when_empty": True}
    )
    deployment.slack.fail("chat.postMessage", f"invalid_auth {' '.join(canaries.values())}")

    digest = await BotProcess.start(config, env, "digest", "--send-now")
    deployment.bots.append(digest)
    assert await digest.exit_code() == 0, digest.output
    await digest.wait_for("1 undeliverable")
    line = await digest.wait_for("weekly digest to slack:T111:U111 undeliverable")
    assert "(invalid_auth [redacted] [redacted])" in line
    leaked = [name for name, value in canaries.items() if value in digest.output]
    assert not leaked, f"leaked: {leaked}"


_LIBRARY_CHECK = textwrap.dedent(
    """
    import json, logging, sys, threading, warnings
    from bot.logs import LIBRARY_LOGGERS, configure_logging

    canary, literal = sys.argv[1], sys.argv[2]
    configure_logging("DEBUG", "json", [literal])  # to stderr, as byok-bot run logs
    # What the bot loads and builds, so every library has set up its loggers.
    import aiohttp, anthropic, discord, httpx, httpx2, openai, slack_bolt, slack_sdk
    from google import genai
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_bolt.async_app import AsyncApp
    AsyncApp(client=AsyncWebClient(token="xoxb-1"), signing_secret="s")
    discord.Client(intents=discord.Intents.none())
    openai.AsyncOpenAI(api_key="k"); anthropic.AsyncAnthropic(api_key="k")
    genai.Client(api_key="k")
    own = {}
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            handlers = [h for h in logger.handlers if not isinstance(h, logging.NullHandler)]
            if handlers or not logger.propagate:
                own[name] = [type(h).__name__ for h in handlers]
    print(json.dumps(own), flush=True)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name + ".probe").error("token %s and %s", canary, literal)
    try:
        raise RuntimeError(f"failed with {canary}")
    except RuntimeError:
        logging.getLogger("discord.client").exception("boom %s", literal)
    warnings.warn(f"careful {canary}", stacklevel=1)
    def fail():
        raise ValueError(f"thread saw {literal}")
    thread = threading.Thread(target=fail, name="worker")
    thread.start(); thread.join()
    raise RuntimeError(f"uncaught {canary} {literal}")
    """
)


async def test_every_library_logger_passes_through_the_redaction_filter() -> None:
    """No library logger bypasses the root handler; each one's records, warnings, logged
    and uncaught exceptions (main thread and others) come out masked, as JSON lines."""
    canary = "xoxb-" + secrets.token_hex(20)
    literal = secrets.token_hex(32)  # shaped like nothing: masked as a known literal
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _LIBRARY_CHECK, canary, literal],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert json.loads(result.stdout) == {}, "loggers with handlers of their own"
    assert result.returncode == 1  # the uncaught exception still ends the process
    assert canary not in result.stderr and literal not in result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]  # only JSON lines
    probes = [r for r in records if r["logger"].endswith(".probe")]
    assert [r["logger"] for r in probes] == [f"{name}.probe" for name in LIBRARY_LOGGERS]
    assert all(r["message"] == "token [redacted] and [redacted]" for r in probes)
    [warning] = [r for r in records if r["logger"] == "py.warnings"]
    assert "careful [redacted]" in warning["message"]
    tracebacks = [r for r in records if "exception" in r]
    assert [r["message"] for r in tracebacks] == [
        "boom [redacted]",
        "uncaught ValueError in thread worker",
        "uncaught RuntimeError",
    ]
    assert all("Traceback" in r["exception"] for r in tracebacks)
    assert all("[redacted]" in r["exception"] for r in tracebacks)
