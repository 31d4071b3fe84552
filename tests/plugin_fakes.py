"""Second-factor methods that misbehave on purpose, loaded with GQL_SERVER_PLUGINS=tests.plugin_fakes.

`flaky` checks codes itself: "1nnnnn" is right (its counter is the number), "boom" raises, "hang"
never answers, "block" blocks its thread (as `time.sleep(30)` would: a synchronous call inside an
`async def`) until a test sets UNBLOCK. `flakysms` delivers codes; MODE decides whether sending works,
raises or hangs. `stepper` keeps a counter in its state (issue 16's Verified): the right code is the
next number; "junk" answers a Verified with a state that is not text, "yes" answers True. `echokey` is a
challenge-response method like a security key: its client signs the challenge with the key's secret and a use
count that must grow (as WebAuthn's signature counter); `sign` makes such a response.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from gql_server.plugin_api import (
    Account,
    AuthenticatorKind,
    Capabilities,
    ChallengeOptions,
    CodeDelivery,
    EnrollmentDraft,
    Mailer,
    Verified,
    hookimpl,
)

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


def sign(secret: str, challenge: str, count: int) -> str:
    """An echokey response's signature: what the key computes over the challenge and its use count."""
    return hmac.new(secret.encode(), f"{challenge}:{count}".encode(), hashlib.sha256).hexdigest()


class EchoKey:
    """A challenge-response method (a toy security key): no code is typed, a response answers a challenge."""

    id = "echokey"
    display_name = "Echo key"
    channel = "security_key"
    phishing_resistant = True
    enrollable = True
    capabilities = Capabilities(
        kind=AuthenticatorKind.POSSESSION, phishing_resistant=True, hardware_bound=True, browser_api="echo"
    )

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        secret, challenge = secrets.token_hex(16), secrets.token_hex(8)
        # The toy key's secret travels to the client (a real key makes its own and sends a public key).
        return EnrollmentDraft(
            state={"secret": secret, "challenge": challenge}, options={"challenge": challenge, "secret": secret}
        )

    async def finish_enrollment(self, state: Mapping[str, str], response: Mapping[str, object]) -> Verified | None:
        if response.get("signature") != sign(state["secret"], state["challenge"], 0):
            return None
        return Verified(0, {"secret": state["secret"]})

    async def begin_challenge(self, states: Any) -> ChallengeOptions:
        challenge = secrets.token_hex(8)
        return ChallengeOptions(options={"challenge": challenge, "keys": len(states)}, pending={"challenge": challenge})

    async def verify_response(
        self, state: Mapping[str, str], pending: Mapping[str, str], response: Mapping[str, object]
    ) -> Verified | None:
        count = response.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            return None
        if response.get("signature") != sign(state["secret"], pending["challenge"], count):
            return None
        return Verified(count, {"secret": state["secret"]})


class Serial:
    """A method that asks for input at enrollment (a hardware token's serial number), as a JSON Schema."""

    id = "serial"
    display_name = "Serial token"
    channel = "hardware_token"
    phishing_resistant = False
    enrollable = True
    enrollment_input: Mapping[str, object] = {
        "type": "object",
        "properties": {"serialNumber": {"type": "string", "pattern": "^[A-Z0-9]{8}$"}},
        "required": ["serialNumber"],
        "additionalProperties": False,
    }
    SEEN: list[Mapping[str, object]] = []  # noqa: RUF012 (what begin_enrollment was given, for tests)

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        Serial.SEEN.append(dict(account.input))
        return EnrollmentDraft(state={"serial": str(account.input["serialNumber"])})

    async def verify(self, state: Mapping[str, str], code: str) -> int | None:
        return 1 if code == state["serial"][-6:] else None


class Broken:
    """A method whose enrollment_input is no JSON Schema: never offered for enrollment."""

    id = "brokenschema"
    display_name = "Broken schema"
    channel = "hardware_token"
    phishing_resistant = False
    enrollable = True
    enrollment_input: Mapping[str, object] = {"type": "no such type"}

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={})

    async def verify(self, state: Mapping[str, str], code: str) -> int | None:
        return None


class EchoKey2(EchoKey):
    """A second key method, for two challenges begun on one login at once."""

    id = "echokey2"
    display_name = "Echo key 2"


class RemoteRef(Serial):
    """A method whose schema points at a URL: the core never fetches it, and does not offer the method."""

    id = "remoteref"
    display_name = "Remote schema"
    enrollment_input: Mapping[str, object] = {"$ref": "http://127.0.0.1:9/schema.json"}


class BadOptions(EchoKey):
    """A challenge-response method whose options cannot be sent to a client (not JSON)."""

    id = "badoptions"
    display_name = "Bad options"

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"secret": "s", "challenge": "c"}, options={"when": object()})

    async def begin_challenge(self, states: Any) -> ChallengeOptions:
        return ChallengeOptions(options={"blob": b"bytes"}, pending={"challenge": "c"})


class BadState(Plain):
    """A code-checking method whose draft state is not text."""

    id = "badstate"
    display_name = "Bad state"

    def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        return EnrollmentDraft(state={"count": 7})  # type: ignore[dict-item]  # not text: refused by the core


# Where Plain's calls ran (never the service's own thread).
PLAIN_THREADS: list[str] = []


@hookimpl
def register_second_factors(register: Callable[[Any], None]) -> None:
    register(Flaky())
    register(FlakySms())
    register(Stepper())
    register(Plain())
    register(EchoKey())
    register(Serial())
    register(Broken())
    register(EchoKey2())
    register(RemoteRef())
    register(BadOptions())
    register(BadState())
