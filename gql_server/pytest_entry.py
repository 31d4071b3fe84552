"""The `pytest11` entry point of gql_server: loads the test kit (`gql_server.testing`) when its extra is
installed, and otherwise stays out of the way.

pytest loads every installed `pytest11` plugin in every project of the environment. An operator who
installed gql-server without the `testing` extra and runs pytest for something else must not see pytest
fail to start on a missing aiosmtpd: the kit is then left out with one warning naming the extra.
"""

from __future__ import annotations

import importlib

import pytest

# What gql_server.testing needs beyond the service itself: the `testing` extra (pyproject.toml).
KIT_REQUIRES = ("pytest_asyncio", "httpx", "aiosmtpd")


def _missing() -> list[str]:
    missing = []
    for name in KIT_REQUIRES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


MISSING = _missing()

if not MISSING:
    # pytest loads the kit as a plugin of its own, with its fixtures.
    pytest_plugins = ["gql_server.testing"]


def pytest_configure(config: pytest.Config) -> None:
    """Say once why the gql_server fixtures are not there, when they are not."""
    if MISSING:
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"gql_server.testing is not loaded: {', '.join(MISSING)} missing (pip install 'gql-server[testing]')"
            ),
            stacklevel=2,
        )
