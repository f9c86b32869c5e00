"""Rules for running several processes: one ``run`` per SQLite file, one-shots beside it.

On SQLite a second ``byok-bot run`` is refused with a message naming PostgreSQL, while
``console`` (or any one-shot command) beside a ``run`` is fine; a one-shot command with
Discord on speaks REST only, so it neither opens a gateway session (it would take
events meant for the running bot) nor re-registers the application commands.
"""

from __future__ import annotations

from tests.fakes.discord_events import ALICE
from tests.ops.conftest import Deployment, discord_user
from tests.ops.harness import BotProcess


async def test_a_second_run_on_one_sqlite_file_is_refused_and_console_beside_it_is_fine(
    deployment: Deployment,
) -> None:
    config = deployment.write()
    first = await deployment.start(config)
    second = await deployment.start(config, ready=False)
    assert await second.exit_code() == 2
    line = await second.wait_for("cannot start: another `byok-bot run`")
    assert "several `run` instances need PostgreSQL" in line
    assert "[database] url" in line and "`byok-bot console` beside one `run` is fine" in line
    assert "Traceback" not in second.output

    console = await BotProcess.start(config, deployment.env(), "console")  # stdin: EOF
    deployment.bots.append(console)
    assert await console.exit_code() == 0, console.output
    assert (await first.readyz())[0] == 200
    assert await first.stop() == 0

    # A clean stop deregisters: the next run starts at once.
    again = await deployment.start(config)
    assert await again.stop() == 0


async def test_one_shot_commands_speak_rest_only_beside_a_running_bot(
    deployment: Deployment,
) -> None:
    config = deployment.write(deployment.settings(discord=True, digest=True))
    await deployment.seed(
        [(discord_user(ALICE["id"]), "openai", None)],
        config,
        **{ALICE["id"]: {"digest_when_empty": True}},
    )
    bot = await deployment.start(config)
    fake = deployment.discord
    sessions, registrations = len(fake.sessions), len(fake.requests_to("/commands", "PUT"))

    digest = await BotProcess.start(config, deployment.env(), "digest", "--send-now")
    deployment.bots.append(digest)
    assert await digest.exit_code() == 0, digest.output
    await digest.wait_for("1 sent")
    # The DM went out over REST; no gateway session was opened and the commands the
    # running bot registered were left alone.
    assert fake.dm_channels.get(ALICE["id"])
    assert len(fake.sessions) == sessions
    assert len(fake.requests_to("/commands", "PUT")) == registrations
    assert fake.connected_shards() == {0: 1}
    assert await bot.stop() == 0


async def test_discord_refusing_the_shard_count_stops_run_with_the_setting_to_change(
    deployment: Deployment,
) -> None:
    deployment.discord.require_shards = 2  # Discord: this bot is too big for one shard
    bot = await deployment.start(deployment.write(deployment.settings(discord=True)), ready=False)
    assert await bot.exit_code() == 2
    line = await bot.wait_for("cannot start: Discord: shard 0: Discord requires more shards")
    assert "raise [discord] shard_count" in line
    assert "Traceback" not in bot.output
