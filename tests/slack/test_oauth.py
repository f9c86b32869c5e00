"""OAuth installs for many workspaces, kept sealed in the bot's own database."""

from __future__ import annotations

import re
import secrets

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.slack.oauth import SignedStateStore
from bot.reply import Reply
from byok.db import Database
from byok.db.tables import SlackInstallation
from byok.errors import KeyDecryptError
from byok.installations import InstallationStore
from byok.types import UserRef
from byok.vault import Keyring, MasterKey
from tests.slack.conftest import MakeSlack, SlackRig, serve


async def _oauth_slack(make_slack: MakeSlack, keyring: Keyring) -> SlackRig:
    return await make_slack(
        settings={
            "bot_token": None,
            "client_id": "111.222",
            "client_secret": SecretStr(secrets.token_hex(16)),
        },
        installations=lambda rig: InstallationStore(rig.engine.database, keyring),
    )


async def _install(slack: SlackRig, token: str, team: str = "T222") -> str:
    slack.fake.team_of_token[token] = team
    slack.fake.oauth_access = {
        "app_id": "A111",
        "access_token": token,
        "token_type": "bot",
        "scope": "commands,chat:write",
        "bot_user_id": "U0BOT",
        "team": {"id": team, "name": "Second"},
        "enterprise": None,
        "is_enterprise_install": False,
        "authed_user": {"id": "U222"},
    }
    async with (
        serve(slack.adapter.routes()) as url,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{url}/slack/install") as page:
            html = await page.text()
            assert page.status == 200
            cookie = page.cookies["slack-app-oauth-state"]
        state = re.search(r"state=([^&\"']+)", html)
        assert state is not None and "oauth/v2/authorize" in html
        # The cookie is marked Secure; a browser on https would send it back.
        async with session.get(
            f"{url}/slack/oauth_redirect",
            params={"code": "c0de", "state": state.group(1)},
            headers={"Cookie": f"{cookie.key}={cookie.value}"},
        ) as done:
            assert done.status == 200, await done.text()
            return await done.text()


async def test_an_oauth_install_is_stored_sealed_and_used_for_that_workspace(
    make_slack: MakeSlack, keyring: Keyring
) -> None:
    slack = await _oauth_slack(make_slack, keyring)
    token = "xoxb-" + secrets.token_hex(12)
    paths = [r.path for r in slack.adapter.routes()]
    assert paths == ["/slack/events", "/slack/install", "/slack/oauth_redirect"]

    await _install(slack, token)

    (access,) = slack.fake.calls_to("oauth.v2.access")
    assert access.args["code"] == "c0de"
    async with slack.rig.engine.database.session() as session:
        (row,) = (await session.scalars(select(SlackInstallation))).all()
    assert row.team_id == "T222" and token.encode() not in row.sealed

    await slack.command("/byok", "list", team="T222")
    await slack.settle()
    (reply,) = slack.fake.calls_to("chat.postEphemeral")
    assert reply.token == token

    # Digests reach that workspace with its own token too.
    await slack.adapter.messenger.send_dm(UserRef("slack", "T222", "U222"), Reply(text="digest"))
    assert slack.fake.calls_to("chat.postMessage")[-1].token == token


async def test_uninstalling_removes_the_installation(
    make_slack: MakeSlack, keyring: Keyring
) -> None:
    slack = await _oauth_slack(make_slack, keyring)
    await _install(slack, "xoxb-" + secrets.token_hex(12))

    await slack.event({"type": "app_uninstalled", "event_ts": "1.1"}, team="T222")
    await slack.settle()

    async with slack.rig.engine.database.session() as session:
        assert (await session.scalars(select(SlackInstallation))).all() == []


async def test_an_unknown_workspace_is_not_answered(
    make_slack: MakeSlack, keyring: Keyring
) -> None:
    slack = await _oauth_slack(make_slack, keyring)

    response = await slack.command("/byok", "list", team="T999")
    await slack.settle()

    assert not slack.fake.calls_to("chat.postEphemeral")
    assert response.status == 200  # bolt answers Slack with its "not installed" message


async def test_oauth_state_is_signed_and_expires() -> None:
    store = SignedStateStore("secret", expiration_s=60)
    state = await store.async_issue()
    assert await store.async_consume(state)
    assert not await store.async_consume(state[:-1] + ("0" if state[-1] != "0" else "1"))
    assert not await SignedStateStore("other").async_consume(state)
    issued, rest = state.split(".", 1)
    old = SignedStateStore("secret", expiration_s=60)
    body = f"{int(issued) - 120}.{rest.rsplit('.', 1)[0]}"
    assert not await old.async_consume(f"{body}.{old._sign(body)}")


async def test_installations_are_bound_to_their_workspace_and_survive_key_rotation(
    database: Database, master_key: MasterKey
) -> None:
    store = InstallationStore(database, Keyring(master_key))
    token = "xoxb-" + secrets.token_hex(12)
    await store.save(None, "T1", {"bot_token": token, "team_id": "T1"})
    assert await store.find(None, "T1") == {"bot_token": token, "team_id": "T1"}
    assert await store.find(None, "T2") is None

    # A sealed record copied to another workspace does not open.
    async with database.session() as session:
        row = await session.scalar(select(SlackInstallation))
        assert row is not None
        session.add(SlackInstallation(enterprise_id="", team_id="T2", sealed=row.sealed,
                                      master_key_id=row.master_key_id, installed_at=row.installed_at,
                                      updated_at=row.updated_at))  # fmt: skip
    with pytest.raises(KeyDecryptError):
        await store.find(None, "T2")

    rotated = InstallationStore(database, Keyring(MasterKey.from_bytes(b"n" * 32), [master_key]))
    assert await rotated.rotate() == (1, 1)  # T1 re-sealed; the bad copy left alone
    fresh = InstallationStore(database, Keyring(MasterKey.from_bytes(b"n" * 32)))
    assert (await fresh.find(None, "T1") or {})["bot_token"] == token
    assert await fresh.delete(None, "T1") and await fresh.find(None, "T1") is None
