"""Second-factor methods that misbehave on purpose, loaded with GQL_SERVER_PLUGINS=tests.plugin_fakes.

`flaky` checks codes itself: "1nnnnn" is right (its counter is the number), "boom" raises, "hang"
never answers, "block" blocks its thread (as `time.sleep(30)` would: a synchronous call inside an
`async def`) until a test sets UNBLOCK. `flakysms` delivers codes; MODE decides whether sending works,
raises or hangs. `stepper` keeps a counter in its state (issue 16's Verified): the right code is the
next number; "junk" answers a Verified with a state that is not text, "yes" answers True.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import Any

from gql_server.plugin_api import Account, CodeDelivery, EnrollmentDraft, Mailer, Verified, hookimpl

MODE = {"send": "ok"}
SENT: list[str] = []
# Set to let "block" return; a blocked call gives up by itself after BLOCK_SECONDS.
UNBLOCK = threading.Event()
BLOCK_SECONDS = 30
# Set when a "hang" or "block" verification has started (the request is inside the plugin).
STALLING = threading.Event()


class Flaky:
    id = "flaky"
    display_name = "Flaky checker"
    channel = "authenticator_app"
    phishing_resistant = False
    enrollable = True

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"who": account.email}, secret="not-a-real-secret")

    async def verify(self, state: Mapping[str, str], code: str) -> int | None:
        if code == "boom":
            raise RuntimeError("verifier exploded")
        if code in {"hang", "block"}:
            STALLING.set()
        if code == "hang":
            await asyncio.sleep(3600)
        if code == "block":
            UNBLOCK.wait(BLOCK_SECONDS)  # a blocking call, like time.sleep(30), that a test can cut short
            return None
        return int(code) if code.isdigit() and code.startswith("1") else None


class FlakySms:
    id = "flakysms"
    display_name = "Flaky text message"
    channel = "sms"
    phishing_resistant = False
    enrollable = True

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"to": "+358401234567"}, sent_to="+358 ••• 67")

    async def send_code(self, delivery: CodeDelivery, mailer: Mailer) -> str:
        if MODE["send"] == "boom":
            raise RuntimeError("gateway exploded")
        if MODE["send"] == "hang":
            await asyncio.sleep(3600)
        SENT.append(delivery.code)
        return "+358 ••• 67"


class Stepper:
    """A method whose state changes with each accepted code, as an HOTP counter does."""

    id = "stepper"
    display_name = "Stepping counter"
    channel = "hardware_token"
    phishing_resistant = False
    enrollable = True

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"step": "0"})

    async def verify(self, state: Mapping[str, str], code: str) -> int | Verified | None:
        step = int(state["step"]) + 1
        if code == "junk":
            return Verified(step, {"step": step})  # type: ignore[dict-item]  # not text: refused by the core
        if code == "yes":
            return True  # a bool is no counter
        return Verified(step, {"step": str(step)}) if code == str(step) else None


class Plain:
    """A code-checking method written without `async` (the core runs it on a plugin thread too)."""

    id = "plain"
    display_name = "Plain checker"
    channel = "hardware_token"
    phishing_resistant = False
    enrollable = True

    def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"thread": threading.current_thread().name})

    def verify(self, state: Mapping[str, str], code: str) -> int | None:
        PLAIN_THREADS.append(threading.current_thread().name)
        return int(code) if code.isdigit() and code.startswith("2") else None


# Where Plain's calls ran (never the service's own thread).
PLAIN_THREADS: list[str] = []


@hookimpl
def register_second_factors(register: Callable[[Any], None]) -> None:
    register(Flaky())
    register(FlakySms())
    register(Stepper())
    register(Plain())
