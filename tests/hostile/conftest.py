"""The fixtures of the hostile-input properties: the world (tests/hostile/world.py) and room for long values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gql_server.models import Customer
from gql_server.services import Services
from gql_server.settings import Settings

from ..graphql import GraphQLClient
from ..mailbox import Mailbox
from .world import World, build_world


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Room for the longest values: 100 000 characters, JSON-escaped to 6 bytes each, can make a body larger
    than S27's 1 MiB, which the service refuses whole with 413 (tests/test_body_limit.py). These properties
    are about what the service does with the values themselves."""
    return {"max_request_body_bytes": 8 * 1024 * 1024}


@pytest.fixture
async def world(
    app: Any,
    services: Services,
    client: GraphQLClient,
    mailbox: Mailbox,
    settings: Settings,
    make_customer: Callable[..., Awaitable[Customer]],
) -> World:
    """A world of its own for each test function (each example must leave it as it was built)."""
    return await build_world(
        app, services, client, mailbox, settings.database_url.startswith("postgres"), make_customer
    )
