"""Line editing in the console: arrows, history across sessions, Tab completion, no garbage.

The console runs at a real pty with TERM=xterm-256color, as a user's terminal; the screen
is full of prompt_toolkit's drawing, so what was typed is checked where it arrives: the
question the fake provider received, the reply, or the history file.
"""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from adapters.console_prompt import (
    CommandCompleter,
    ConsoleHistory,
    console_history,
    history_path,
    open_history,
)
from tests.bot.test_console import console, write_config
from tests.bot.test_console_terminal import CTRL_C, CTRL_D, Terminal, at_terminal
from tests.fakes.plugin import FakeProviders

XTERM = "xterm-256color"
LEFT, UP = b"\x1b[D", b"\x1b[A"
QUOTED_INSERT = b"\x11"  # Ctrl-Q (Emacs keys): the next key goes into the line as it came
PROMPT = b"you>"  # drawn without its trailing space, which is a cursor move


def _questions(fake_providers: FakeProviders, provider_id: str) -> list[str]:
    fake = fake_providers[provider_id]
    return [r.json()["messages"][-1]["content"] for r in fake.requests if r.method == "POST"]


def _history_file(tmp_path: Path) -> Path:
    return history_path({"XDG_DATA_HOME": str(tmp_path / "data")})


def _add_key(terminal: Terminal, provider_id: str, key: str) -> None:
    terminal.expect(PROMPT)
    terminal.type(f"/byok add {provider_id}\r".encode())
    terminal.expect(b"(input hidden): ")
    terminal.type(key.encode() + b"\r")
    terminal.expect(b"Key added")


@pytest.mark.slow
async def test_arrows_edit_the_line_and_history_outlives_the_session(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    openai = fake_providers["openai"]
    openai.reply(text="Paris, first time.")
    openai.reply(text="Paris, second time.")
    key = fake_providers.key("openai")
    pasted_key = "sk-canary-" + secrets.token_hex(20)
    master = secrets.token_hex(32)
    codes: list[int] = []

    def first(terminal: Terminal) -> None:
        _add_key(terminal, "openai", key)
        terminal.expect(PROMPT)
        # "capital of Frnce?", then four lefts to between r and n, and the missing a.
        terminal.type(b"capital of Frnce?" + LEFT * 4 + b"a\r")
        terminal.expect(b"first time.")
        terminal.expect(PROMPT)
        terminal.type(f"my key is {pasted_key}\r".encode())
        terminal.expect(b"Not sent")
        terminal.expect(PROMPT)
        terminal.type(b"/quit\r")
        codes.append(terminal.finish())

    def second(terminal: Terminal) -> None:
        terminal.expect(PROMPT)
        # Up, Up: past /quit to the question (the key-shaped line between was never kept).
        terminal.type(UP * 2 + b"\r")
        terminal.expect(b"second time.")
        terminal.expect(PROMPT)
        terminal.type(CTRL_D)
        codes.append(terminal.finish())

    await at_terminal(tmp_path, config, first, term=XTERM, master_key=master)
    last = await at_terminal(tmp_path, config, second, term=XTERM, master_key=master)

    assert codes == [0, 0], last.screen
    assert _questions(fake_providers, "openai") == ["capital of France?"] * 2
    history = _history_file(tmp_path)
    kept = history.read_text()
    assert "capital of France?" in kept and "/byok add openai" in kept
    assert key not in kept and pasted_key not in kept and "sk-" not in kept
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    # Ctrl-D ended the prompt's line: the shell's prompt starts on a line of its own.
    after_last_prompt = last.screen[last.screen.rindex(PROMPT) :]
    assert b"\n" in after_last_prompt, last.screen
    assert b"Traceback" not in last.screen


@pytest.mark.slow
async def test_tab_completes_and_ctrl_c_clears_a_typed_line(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        terminal.expect(PROMPT)
        terminal.type(b"/byo\tlist\r")
        terminal.expect(b"You have no keys yet")
        terminal.expect(PROMPT)
        terminal.type(b"/byok add o\t\t")  # "open", then both choices listed
        terminal.expect(b"openrouter")
        terminal.type(b"a\t\r")
        terminal.expect(b"OpenAI API key (input hidden): ")
        terminal.type(CTRL_C)
        terminal.expect(b"Cancelled; nothing was stored.")
        terminal.expect(PROMPT)
        terminal.type(b"an unfinished question" + CTRL_C)  # cleared, not sent, still here
        terminal.type(b"/byok list\r")
        terminal.expect(b"You have no keys yet")
        terminal.expect(PROMPT)
        terminal.type(b"/quit\r")
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session, term=XTERM)
    assert codes == [0], terminal.screen
    assert b"Traceback" not in terminal.screen
    assert all(not fake_providers[pid].requests for pid in fake_providers)


@pytest.mark.slow
async def test_a_line_of_escape_codes_is_never_sent(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    openai = fake_providers["openai"]
    openai.reply(text="Only the clean question got here.")
    key = fake_providers.key("openai")
    codes: list[int] = []

    def session(terminal: Terminal) -> None:
        _add_key(terminal, "openai", key)
        terminal.expect(PROMPT)
        terminal.type(QUOTED_INSERT + UP + QUOTED_INSERT + LEFT + b"\r")
        terminal.expect(b"! Ignored a line of terminal control codes")
        terminal.expect(PROMPT)
        terminal.type(b"What" + QUOTED_INSERT + LEFT + b" is it?\r")
        terminal.expect(b"so it was not sent: type it again without them.")
        terminal.expect(PROMPT)
        terminal.type(b"What is it?\r")
        terminal.expect(b"clean question got here.")
        terminal.expect(PROMPT)
        terminal.type(b"/quit\r")
        codes.append(terminal.finish())

    terminal = await at_terminal(tmp_path, config, session, term=XTERM)
    assert codes == [0], terminal.screen
    assert _questions(fake_providers, "openai") == ["What is it?"]
    assert "\x1b" not in _history_file(tmp_path).read_text()


@pytest.mark.slow
async def test_a_piped_line_of_escape_codes_is_never_sent(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    config = write_config(tmp_path, fake_providers)
    fake_providers["openai"].reply(text="Clean.")
    script = "\n".join([
        "/byok add openai",
        fake_providers.key("openai"),
        "\x1b[A\x1b[D",
        "capital of\x1b[D\x1b[D France?",
        "\x1bOA",
        "capital of France?",
    ])  # fmt: skip
    env = {"BYOK_ENCRYPTION_KEY": secrets.token_hex(32), "XDG_DATA_HOME": str(tmp_path / "data")}
    out, err, code = await console(tmp_path, config, script + "\n", env=env)
    assert code == 0, err
    assert (
        out.count(
            "! Ignored a line of terminal control codes (arrow or function keys?); nothing was sent."
        )
        == 2
    )
    assert (
        "✗ That line holds terminal control codes (arrow or function keys?), so it was not "
        "sent: type it again without them." in out
    )
    assert _questions(fake_providers, "openai") == ["capital of France?"]
    assert not (tmp_path / "data").exists()  # a piped console keeps no history


def _completions(text: str) -> list[str]:
    completer = CommandCompleter(("openai", "anthropic", "google", "xai", "openrouter"))
    found = completer.get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [completion.text for completion in found]


def test_completion_knows_commands_subcommands_providers_and_flags(tmp_path: Path) -> None:
    assert _completions("/byo") == ["/byok "]
    assert _completions("/u") == ["/usage "]
    assert _completions("/byok re") == ["remove "]
    assert _completions("/byok add o") == ["openai ", "openrouter "]
    assert _completions("/byok default an") == ["anthropic "]
    assert _completions("/byok list ") == []
    assert _completions("/byok prefs auto") == ["auto-switch "]
    assert _completions("/byok add openai --l") == ["--label ", "--limit "]
    assert _completions("/ask --max") == ["--max-tokens "]
    assert _completions("--prov") == ["--provider "]
    assert _completions("/ask --provider x") == ["xai "]
    assert _completions("/summarize --f") == ["--fresh ", "--file "]
    assert _completions("/summarize --fi") == ["--file "]
    assert _completions("/usage ") == ["week ", "month "]
    assert _completions("/help su") == ["summarize "]
    assert _completions("what is a monad") == []  # a question is not completed
    (tmp_path / "standup.vtt").write_text("WEBVTT\n")
    assert _completions(f"/summarize --file {tmp_path}/stand") == ["up.vtt"]


def test_history_never_keeps_or_recalls_a_key_shaped_or_garbled_line(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "byok-bot" / "console_history"
    key_line = "try sk-proj-" + secrets.token_hex(20)
    history = open_history(path)
    for line in ("/byok list", key_line, "up\x1b[A", "what is a monad?"):
        history.append_string(line)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    kept = path.read_text()
    assert "/byok list" in kept and "what is a monad?" in kept
    assert key_line not in kept and "\x1b" not in kept
    # A line someone wrote into the file by hand is not offered back either.
    path.write_text(path.read_text() + f"\n# by hand\n+{key_line}\n")
    recalled = list(ConsoleHistory(path).load_history_strings())
    assert recalled == ["what is a monad?", "/byok list"]


def test_history_lives_in_the_xdg_data_folder_or_says_why_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert history_path({"XDG_DATA_HOME": str(data)}) == data / "byok-bot" / "console_history"
    # The XDG rules ignore a relative XDG_DATA_HOME: the default under the home folder wins.
    default = Path.home() / ".local" / "share" / "byok-bot" / "console_history"
    assert history_path({"XDG_DATA_HOME": "relative/data"}) == default
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    history, trouble = console_history({"XDG_DATA_HOME": str(in_the_way)})
    assert trouble == (
        f"History is not kept: could not write {in_the_way}/byok-bot/console_history "
        "(not a directory)."
    )
    history.append_string("/byok list")  # kept for this session, in memory
    assert list(history.load_history_strings()) == ["/byok list"]
