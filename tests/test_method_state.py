"""Issue 16: a method whose state changes with each use answers `Verified(counter, state)`; the core
stores the new state in the same conditional update as the replay guard (S8), so it moves only with an
accepted code, exactly once, and no plugin needs a table of its own."""

from __future__ import annotations

import asyncio

import pytest

from gql_server.crypto import Keyring
from gql_server.models import EnrolledFactor

from . import plugin_fakes
from .conftest import SECRET
from .flows import PASSWORD, challenge, request_invitation, verify
from .test_plugin_kit import FAKES


@pytest.fixture
def settings_overrides():
    return FAKES


def _state(factor: EnrolledFactor) -> dict[str, str]:
    return dict(Keyring(SECRET).decrypt_state(factor.state_encrypted))


async def _enrolled(client, mailbox, make_user, acme) -> EnrolledFactor:
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="stepper"))["beginEnrollment"]
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code="1"))["confirmEnrollment"]
    assert done["__typename"] == "EnrollmentCompleted", done
    return await EnrolledFactor.get(method="stepper")


async def test_the_state_after_enrollment_is_the_methods_new_one(client, mailbox, make_user, acme):
    factor = await _enrolled(client, mailbox, make_user, acme)

    assert (_state(factor), factor.last_counter) == ({"step": "1"}, 1)


async def test_each_accepted_code_stores_the_new_state_and_a_replay_changes_nothing(client, mailbox, make_user, acme):
    factor = await _enrolled(client, mailbox, make_user, acme)

    assert (await verify(client, await challenge(client, "anna@example.com"), "stepper", "2"))["__typename"] == (
        "LoginSuccess"
    )
    assert _state(await EnrolledFactor.get(id=factor.id)) == {"step": "2"}
    # The code of step 2 again: the method would accept "3" now, and "2" is a replay of the guard's.
    replayed = await verify(client, await challenge(client, "anna@example.com"), "stepper", "2")
    assert replayed["__typename"] == "InvalidCode"
    assert (await verify(client, await challenge(client, "anna@example.com"), "stepper", "3"))["__typename"] == (
        "LoginSuccess"
    )
    stored = await EnrolledFactor.get(id=factor.id)
    assert (_state(stored), stored.last_counter) == ({"step": "3"}, 3)


@pytest.mark.parametrize("answer", ["junk", "yes"])
async def test_a_malformed_answer_is_a_wrong_code_and_keeps_the_state(client, mailbox, make_user, acme, answer):
    factor = await _enrolled(client, mailbox, make_user, acme)

    result = await verify(client, await challenge(client, "anna@example.com"), "stepper", answer)

    assert result["__typename"] == "InvalidCode"
    stored = await EnrolledFactor.get(id=factor.id)
    assert (_state(stored), stored.last_counter) == ({"step": "1"}, 1)


async def test_two_logins_with_one_code_at_once_move_the_state_once(client, mailbox, make_user, acme):
    factor = await _enrolled(client, mailbox, make_user, acme)
    first, second = await challenge(client, "anna@example.com"), await challenge(client, "anna@example.com")

    results = await asyncio.gather(verify(client, first, "stepper", "2"), verify(client, second, "stepper", "2"))

    assert sorted(r["__typename"] for r in results) == ["InvalidCode", "LoginSuccess"]
    stored = await EnrolledFactor.get(id=factor.id)
    assert (_state(stored), stored.last_counter) == ({"step": "2"}, 2)


async def test_a_method_written_without_async_runs_on_a_plugin_thread(client, mailbox, make_user, acme):
    plugin_fakes.PLAIN_THREADS.clear()
    await make_user(acme, "anna@example.com", PASSWORD)
    invitation = await request_invitation(client, mailbox, "anna@example.com")
    begun = (await client.run("BeginEnrollment", invitation=invitation, method="plain"))["beginEnrollment"]
    done = (await client.run("ConfirmEnrollment", enrollment=begun["enrollment"], code="200"))["confirmEnrollment"]
    assert done["__typename"] == "EnrollmentCompleted", done

    signed_in = await verify(client, await challenge(client, "anna@example.com"), "plain", "201")

    assert signed_in["__typename"] == "LoginSuccess"
    assert plugin_fakes.PLAIN_THREADS and all(name.startswith("plugin-") for name in plugin_fakes.PLAIN_THREADS)
