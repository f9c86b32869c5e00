"""Every platform offers the commands of the command table: no more, no fewer.

Each platform's offer is read from the platform itself, never from the table: the slash
commands the real bolt app answers (a name it has no listener for gets 404) and its Home
tab; the application commands Discord was sent at registration (on the fake Discord
API); the commands the console completes and runs; the topics ``/help`` answers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Set
from typing import Any

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from adapters.console import ConsoleAdapter
from adapters.console_prompt import CommandCompleter
from adapters.discord.commands import BYOK_PANEL
from bot.commands.spec import AppHomeTab
from bot.commands.table import COMMAND_TABLE
from bot.context import BotContext
from bot.dispatch import Dispatcher
from bot.invocation import Invocation
from bot.reply import Reply, collect
from tests.discord.conftest import DiscordRig, discord, discord_api, make_discord  # noqa: F401
from tests.engine.conftest import Rig, make_rig, rig  # noqa: F401 - fixtures
from tests.fakes.fake_discord import APP_ID
from tests.slack.conftest import USER, MakeSlack, fake_slack, make_slack  # noqa: F401 - fixtures

PROVIDERS = ("openai", "anthropic", "google", "xai", "openrouter")
TABLE = frozenset(command.name for command in COMMAND_TABLE)


def _differences(offers: Mapping[str, Set[str]]) -> dict[str, dict[str, list[str]]]:
    """Per platform, the table's commands it lacks and the commands it has beyond them."""
    found: dict[str, dict[str, list[str]]] = {}
    for platform, offered in offers.items():
        missing, extra = sorted(TABLE - offered), sorted(offered - TABLE)
        if missing or extra:
            found[platform] = {"missing": missing, "extra": extra}
    return found


async def _slack_offer(make_slack: MakeSlack) -> set[str]:  # noqa: F811 - the fixture
    slack = await make_slack()
    offered = set()
    for name in [*TABLE, "nonesuch"]:  # a name no row has: bolt must say 404 to it
        response = await slack.command(f"/{name}", "")
        assert response.status in (200, 404), (name, response.status, response.body)
        if response.status == 200:
            offered.add(name)
    await slack.settle()
    for row in COMMAND_TABLE:
        if isinstance(row.slack, AppHomeTab):
            await slack.event({"type": "app_home_opened", "user": USER, "tab": "home"})
            await slack.settle()
            if slack.fake.calls_to("views.publish"):
                offered.add(row.name)
    return offered


def _discord_offer(discord: DiscordRig) -> tuple[set[str], dict[str, Any]]:  # noqa: F811
    """The table's commands Discord was given (by their Discord names), and those commands."""
    [put] = discord.fake.requests_to(f"/applications/{APP_ID}/commands", "PUT")
    registered = {command["name"]: command for command in put.json()}
    by_discord_name = {row.discord_name: row.name for row in COMMAND_TABLE}
    offered = {by_discord_name.get(name, f"(unknown) {name}") for name in registered}
    return offered, registered


def _console_completes(line: str) -> set[str]:
    completer = CommandCompleter(PROVIDERS)
    found = completer.get_completions(Document(line), CompleteEvent(completion_requested=True))
    return {completion.text.strip() for completion in found}


async def _console_runs(dispatcher: Dispatcher, names: Set[str]) -> set[str]:
    """The names the piped console hands to a command, not answering "Unknown command"."""
    runs = set()
    for name in names:
        out = io.StringIO()
        console = ConsoleAdapter(
            dispatcher,
            "ana",
            stdin=io.StringIO(f"/{name}\n"),
            stdout=out,
            stderr=io.StringIO(),
            interactive=False,
        )
        await console.run()
        if "Unknown command" not in out.getvalue():
            runs.add(name)
    return runs


async def _say(dispatcher: Dispatcher, command: str, text: str = "") -> Reply:
    invocation = Invocation(
        platform="console", workspace="local", user="ana", channel="console",
        private=True, command=command, text=text,
    )  # fmt: skip
    _, reply = await collect(dispatcher.run(invocation))
    return reply


async def _help_topics(dispatcher: Dispatcher) -> set[str]:
    """The commands ``/help <name>`` explains and the overview lists (``/help`` needs no line)."""
    overview = {section.title for section in (await _say(dispatcher, "help")).sections}
    explained = set()
    for name in [*TABLE, "nonesuch"]:
        reply = await _say(dispatcher, "help", name)
        if reply.title == f"/{name}" and (f"/{name}" in overview or name == "help"):
            explained.add(name)
    return explained


async def test_every_platform_offers_the_commands_of_the_table(
    make_slack: MakeSlack,  # noqa: F811 - the fixture
    discord: DiscordRig,  # noqa: F811 - the fixture
    rig: Rig,  # noqa: F811 - the fixture
) -> None:
    dispatcher = Dispatcher(BotContext(rig.engine))
    discord_offer, _ = _discord_offer(discord)
    offers = {
        "slack": await _slack_offer(make_slack),
        "discord": discord_offer,
        "console completion": {name.lstrip("/") for name in _console_completes("/")}
        - {"quit", "exit"},
        "console": await _console_runs(dispatcher, {*TABLE, "nonesuch"}),
        "/help": await _help_topics(dispatcher),
    }
    assert _differences(offers) == {}


async def test_every_platform_offers_the_subcommands_of_the_table(
    discord: DiscordRig,  # noqa: F811 - the fixture
    rig: Rig,  # noqa: F811 - the fixture
) -> None:
    dispatcher = Dispatcher(BotContext(rig.engine))
    _, registered = _discord_offer(discord)
    for row in COMMAND_TABLE:
        if not row.subcommands:
            continue
        subcommands = {sub.name for sub in row.subcommands}
        on_discord = {o["name"] for o in registered[row.discord_name]["options"]}
        assert on_discord - {BYOK_PANEL} == subcommands, row.name
        assert _console_completes(f"/{row.name} ") == subcommands, row.name
        examples = " ".join(row.examples)
        assert {sub for sub in subcommands if f"/{row.name} {sub}" in examples} == subcommands
        for sub in sorted(subcommands):
            answer = (await _say(dispatcher, row.name, sub)).plain_text()
            assert "Unknown" not in answer, (row.name, sub)
        assert "Unknown" in (await _say(dispatcher, row.name, "nonesuch")).plain_text()


def test_a_platform_that_drops_a_command_is_caught() -> None:
    everywhere = {"slack": set(TABLE), "discord": set(TABLE)}
    assert _differences(everywhere) == {}
    dropped = sorted(TABLE)[0]
    offers = {**everywhere, "discord": TABLE - {dropped}}
    assert _differences(offers) == {"discord": {"missing": [dropped], "extra": []}}
    renamed = {**everywhere, "slack": (TABLE - {dropped}) | {"renamed"}}
    assert _differences(renamed) == {"slack": {"missing": [dropped], "extra": ["renamed"]}}
