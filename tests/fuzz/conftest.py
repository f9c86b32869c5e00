"""Hypothesis profiles for the fuzz tier.

``ci`` (the default) is derandomized — the same examples on every run and machine — and
bounded, so the whole tier stays within about a minute on two cores. ``quick``, the
default under ``--quick``, is ``ci`` cut to a tenth of the examples: a smoke test of every
property for the inner loop. ``long`` explores for real; run it locally for a few
minutes (see docs/testing.md)::

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/fuzz
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.bot.conftest import chat  # noqa: F401 - fixtures
from tests.discord.conftest import discord_api, make_discord  # noqa: F401 - fixtures
from tests.engine.conftest import make_rig, rig  # noqa: F401 - fixtures
from tests.slack.conftest import fake_slack, make_slack  # noqa: F401 - fixtures

# Fixtures (a database, fake providers, a fake Slack or Discord) are made once per test
# function and shared by its examples: each example uses a user of its own instead.
_SHARED_FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=_SHARED_FIXTURES,
    print_blob=True,
)
settings.register_profile("quick", settings.get_profile("ci"), max_examples=15)
settings.register_profile(
    "long",
    max_examples=20_000,
    database=None,
    deadline=None,
    suppress_health_check=_SHARED_FIXTURES,
    print_blob=True,
)


def pytest_configure(config: pytest.Config) -> None:
    default = "quick" if config.getoption("quick") else "ci"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default))
