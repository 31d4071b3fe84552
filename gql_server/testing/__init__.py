"""gql_server's test kit, a pytest plugin installed with the package (entry point group `pytest11`).

Any project with gql-server installed (with its `testing` extra) gets these fixtures, for driving the real
service as a frontend does:

- `gql_app`: the ASGI app on a fresh, migrated SQLite database (a copy in the test's tmp path), with its
  lifespan running and the installed plugins loaded; `gql_services` is its service graph;
- `gql_client`: a GraphQLClient posting the shipped operation documents by name over ASGI, keeping cookies;
- `gql_mailbox`: a real SMTP server (aiosmtpd on a free port) the app sends to, emptied for each test;
- `gql_make_customer`, `gql_make_user`: factories going through the operator service;
- `gql_settings_overrides`: override it to change settings, e.g. `{"gql_server_plugins": "my_module"}`;
- `gql_password_hasher`: a cheap argon2id, so that logins take microseconds (override with None for S1's).

And helpers that walk the flows for any method (`request_invitation`, `enroll`, `log_in`, `challenge`,
`verify`): see docs/plugins.md, "Testing a plugin".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .client import GraphQLClient, operation
from .flows import PASSWORD, Enrolled, challenge, enroll, log_in, request_invitation, verify
from .harness import (
    CHEAP_HASHER,
    CustomerFactory,
    UserFactory,
    asgi_client,
    customer_factory,
    migrated_sqlite,
    running_app,
    settings_for_test,
    sqlite_copy,
    user_factory,
)
from .mailbox import Mailbox, body, code_in, invitation_token_in, link_token_in, running_smtp_server

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from starlette.applications import Starlette

    from gql_server.services import Services
    from gql_server.settings import Settings

__all__ = [
    "PASSWORD",
    "Enrolled",
    "GraphQLClient",
    "Mailbox",
    "body",
    "challenge",
    "code_in",
    "enroll",
    "invitation_token_in",
    "link_token_in",
    "log_in",
    "operation",
    "request_invitation",
    "verify",
]


@pytest.fixture(scope="session")
def gql_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated with the real migrations per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("gql_server") / "template.sqlite3"
    migrated_sqlite(path)
    return path


@pytest.fixture
def gql_database_url(gql_sqlite_template: Path, tmp_path: Path) -> str:
    """The test's own migrated SQLite database."""
    return sqlite_copy(gql_sqlite_template, tmp_path / "gql_server.sqlite3")


@pytest.fixture(scope="session")
def gql_smtp_session() -> Iterator[Mailbox]:
    """One real SMTP server (aiosmtpd on 127.0.0.1) for the whole run."""
    with running_smtp_server(Mailbox) as mailbox:
        yield mailbox


@pytest.fixture
def gql_mailbox(gql_smtp_session: Mailbox) -> Mailbox:
    """The mail the service sent during this test, as the user would read it."""
    gql_smtp_session.clear()
    return gql_smtp_session


@pytest.fixture
def gql_settings_overrides() -> dict[str, Any]:
    """Settings to change for a test (field names of gql_server.settings.Settings); override this fixture."""
    return {}


@pytest.fixture
def gql_settings(gql_database_url: str, gql_mailbox: Mailbox, gql_settings_overrides: dict[str, Any]) -> Settings:
    """The service's settings for a test: its database, SMTP to `gql_mailbox`, a fixed secret."""
    return settings_for_test(gql_database_url, gql_mailbox.url, gql_settings_overrides)


@pytest.fixture
def gql_password_hasher() -> PasswordHasher | None:
    """The cheapest argon2id, for fast logins; override it to return None for S1's real parameters."""
    return CHEAP_HASHER


@pytest_asyncio.fixture
async def gql_app(gql_settings: Settings, gql_password_hasher: PasswordHasher | None) -> AsyncIterator[Starlette]:
    """The real ASGI app with its lifespan running."""
    async with running_app(gql_settings, gql_password_hasher) as app:
        yield app


@pytest.fixture
def gql_services(gql_app: Starlette) -> Services:
    """The app's own service graph (e.g. `gql_services.operator`)."""
    services: Services = gql_app.state.services
    return services


@pytest_asyncio.fixture
async def gql_client(gql_app: Starlette) -> AsyncIterator[GraphQLClient]:
    """A frontend's view of the service: the shipped operations over HTTP (ASGI), cookies kept."""
    async with asgi_client(gql_app) as client:
        yield client


@pytest.fixture
def gql_make_customer(gql_services: Services) -> CustomerFactory:
    """Factory: `await gql_make_customer("Acme Oy", enforce=True)`."""
    return customer_factory(gql_services.operator)


@pytest.fixture
def gql_make_user(gql_services: Services) -> UserFactory:
    """Factory: `await gql_make_user(customer, "anna@example.com", password=PASSWORD, level=...)`."""
    return user_factory(gql_services.operator)
