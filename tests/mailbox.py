"""A real SMTP server for tests (aiosmtpd on 127.0.0.1): what the service mailed, parsed.

The implementation is the installed test kit's (gql_server.testing.mailbox), the one plugin authors use;
`smtp_server` yields a Mailbox of a test's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gql_server.testing.mailbox import (
    Mailbox,
    body,
    code_in,
    invitation_token_in,
    link_token_in,
    running_smtp_server,
)

__all__ = ["Mailbox", "body", "code_in", "invitation_token_in", "link_token_in", "running_smtp_server"]


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A running aiosmtpd server on 127.0.0.1 (free port); stopped after the test."""
    with running_smtp_server() as mailbox:
        yield mailbox
