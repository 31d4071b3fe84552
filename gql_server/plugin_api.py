"""What a second-factor method is, seen from the core: the objects plugins register, and their data.

A method only *checks or delivers codes*. Everything around it belongs to the core, so that every
method gets it: attempt counting (S5, S6), replay guards (S8), one-time code generation, hashing and
expiry (S10), tokens, transactions, encryption of state at rest (S23) and the audit trail.

There are two kinds of method:

- a **code-checking** method (TOTP, hardware tokens) keeps a secret in its `state` and answers
  `verify(state, code)` with the counter of the matched code (for TOTP the time step) or None, or with
  `Verified(counter, state)` when its state changes with each use (an HOTP counter, a signature count):
  the core stores the new state with the replay guard, in one conditional update;
- a **code-delivering** method (email, SMS) has `send_code(delivery, mailer)`: the core makes a
  6-digit code, stores its digest, and asks the method to get it to the user.

Lookup secrets (`recovery_code`) are the core's own: the plugin only makes and normalises codes.

This is the one module of the core a plugin imports: the hook marker (`hookimpl`), the method protocols,
the frozen views of users, customers, memberships and audited events that hooks receive (never a
database row), and the helpers a method may use (`mask_email`; `typed_code`, `same_code` and `code_digest`
for comparing and keeping codes).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import pluggy

from gql_server.emails import mask_email
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel

# Mark a plugin's hook implementations: `@hookimpl def register_second_factors(register): ...`. Built-ins
# use `@hookimpl(trylast=True)`, so that an installed package's implementation answers before theirs.
hookimpl = pluggy.HookimplMarker("gql_server")

__all__ = [
    "Account",
    "AuthEvent",
    "AuthenticatorKind",
    "Capabilities",
    "ChallengeOptions",
    "ChallengeResponseMethod",
    "CodeCheckingMethod",
    "CodeDeliveringMethod",
    "CodeDelivery",
    "CodeField",
    "ConversionState",
    "CustomerView",
    "EnrollmentDraft",
    "InvalidEnrollmentInput",
    "LoginMethod",
    "LookupSecretMethod",
    "Mailer",
    "MembershipLevel",
    "MembershipView",
    "MethodStrings",
    "MethodUI",
    "PolicyRequirement",
    "Prompt",
    "SecondFactorMethod",
    "UserView",
    "Verified",
    "capabilities_of",
    "code_digest",
    "enrollment_input_of",
    "hookimpl",
    "mask_email",
    "problem_of",
    "same_code",
    "typed_code",
    "ui_of",
]


def typed_code(code: str) -> str:
    """A code as the user meant it: without the spaces people type or paste along with it ("123 456")."""
    return "".join(code.split())


def same_code(typed: str, expected: str) -> bool:
    """Whether a typed code is `expected`, spaces ignored, in time that does not depend on where they differ
    (a timing difference would let an attacker find a code digit by digit)."""
    return hmac.compare_digest(typed_code(typed).encode(), expected.encode())


def code_digest(key: str, code: str) -> str:
    """A keyed digest of a code (HMAC-SHA-256, hex) for a method that must keep something to check a code
    against without keeping the code: `key` is a secret of the factor's own state (encrypted at rest by the
    core). A plain hash of a six-digit code is no protection: a million guesses undo it. Compare digests
    with `same_code`."""
    return hmac.new(key.encode(), typed_code(code).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class UserView:
    """A user as hooks see it (`policy_requirements`): what a policy may decide on, nothing to write."""

    id: str
    email: str
    locale: str
    login_method: LoginMethod
    conversion: ConversionState


@dataclass(frozen=True)
class CustomerView:
    """A customer as hooks see it. `allowed_methods` None: every installed method (R5).
    `require_phishing_resistant_admins`: the customer's CUSTOMER-level members must use phishing-resistant
    methods (the core's own policy answers it; a plugin may read it too)."""

    id: str
    name: str
    enforce_two_factor: bool
    allowed_methods: frozenset[str] | None
    require_phishing_resistant_admins: bool = False


@dataclass(frozen=True)
class MembershipView:
    """A user's place in a customer (accepted members only: an invitation to join is no membership)."""

    customer_id: str
    level: MembershipLevel


@dataclass(frozen=True)
class AuthEvent:
    """An audited event as observers (`auth_event`) see it, after it was recorded. Times are UTC; the
    addresses are those of the moment; `data` never holds a secret (S25)."""

    id: int
    kind: str
    at: datetime
    actor_id: str | None
    actor_email: str | None
    subject_id: str | None
    subject_email: str | None
    customer_id: str | None
    data: Mapping[str, object]


@runtime_checkable
class SecondFactorMethod(Protocol):
    """The attributes every registered method has (shown as `SecondFactorMethod` in the API). A method
    may also have `capabilities: Capabilities` (see `capabilities_of`), `ui: MethodUI` (how clients present
    it, with its own strings: see `ui_of`), `enrollment_input`: a JSON Schema (an object schema) of what
    beginEnrollment's `input` holds for it (see `enrollment_input_of`), and `problem()`: its readiness
    check (see `problem_of`)."""

    id: str
    display_name: str
    channel: str
    phishing_resistant: bool
    enrollable: bool


class AuthenticatorKind(StrEnum):
    """What the factor is, in NIST SP 800-63B's terms."""

    KNOWLEDGE = "knowledge"  # something you know
    POSSESSION = "possession"  # something you have: an app's secret, a mailbox, a phone, a key
    INHERENCE = "inherence"  # something you are (a biometric that unlocks a key counts as possession)


@dataclass(frozen=True)
class Capabilities:
    """What a method is, for policies and clients to read instead of its id: the kind of authenticator,
    whether it resists phishing (the response is bound to the site's origin), whether its secret cannot
    leave a piece of hardware, whether the core delivers codes for it (and through what), and which
    browser API a client needs (e.g. "webauthn"). `extra` carries what a later descriptor may add."""

    kind: AuthenticatorKind = AuthenticatorKind.POSSESSION
    phishing_resistant: bool = False
    hardware_bound: bool = False
    delivers_codes: bool = False
    browser_api: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def problem_of(method: SecondFactorMethod) -> str | None:
    """Why a method cannot work here now, as its optional `problem()` says (e.g. "GQL_SERVER_SMS_WEBHOOK_URL is
    not set"), or None when it can, or has no such check. The core asks once, when a process builds its
    services: a method with a problem is not offered, not enrollable and not usable at login, and `serve`
    warns about it once. Its exceptions are the caller's to contain; an answer that is not text is a problem."""
    check = getattr(method, "problem", None)
    if not callable(check):
        return None
    answer = check()
    if answer is None or answer == "":
        return None
    return answer if isinstance(answer, str) else f"its readiness check answered {answer!r}, not text or None"


def enrollment_input_of(method: SecondFactorMethod) -> Mapping[str, object] | None:
    """The JSON Schema of the input a method takes at enrollment, or None when it declares none (it then
    takes nothing but the documented `phoneNumber` alias, as before)."""
    schema = getattr(method, "enrollment_input", None)
    return _plain(schema) if isinstance(schema, Mapping) else None


def _plain(value: object) -> Any:
    """A copy made of dicts and lists (a schema may be written with read-only mappings or tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class Prompt(StrEnum):
    """How a client asks the user for a method's answer."""

    CODE = "code"  # a field the user types a code into (`MethodUI.code` says its format)
    # The client runs the browser API its capabilities name (`browser_api`) with the challenge's options and
    # sends the API's answer as JSON text where other methods send a code; it shows no field.
    BROWSER_API = "browser_api"


@dataclass(frozen=True)
class CodeField:
    """What a typed code looks like, for a client's field: the keyboard (`input_mode`: "numeric" or
    "text"), its length, a regular expression a whole code matches once spaces are removed (JavaScript
    syntax, as HTML's `pattern`; None: any), and the HTML autocomplete token (one-time-code lets phones
    offer a code from a message). A client only helps the user with these: the method's `verify` decides."""

    input_mode: Literal["numeric", "text"] = "numeric"
    min_length: int = 6
    max_length: int = 6
    pattern: str | None = "[0-9]{6}"
    autocomplete: str = "one-time-code"


@dataclass(frozen=True)
class MethodStrings:
    """What a client says about a method in one language: its `name` (in lists of methods), `about` (one or
    two sentences to choose it by), `label` (of its code field, or of the button that starts a browser
    prompt) and `hint` (under the field: where the code comes from, how long it lasts). Plain text: clients
    show it as text, never as markup."""

    name: str
    about: str = ""
    label: str = ""
    hint: str = ""


@dataclass(frozen=True)
class MethodUI:
    """How clients present a method (issue 16): the kind of prompt, the code field's format and the method's
    own strings by language ("en", "fi": the web client's languages; others are welcome). A client falls
    back to "en", then to the method's `display_name`, so a method without strings still works anywhere."""

    prompt: Prompt = Prompt.CODE
    code: CodeField = field(default_factory=CodeField)
    strings: Mapping[str, MethodStrings] = field(default_factory=dict)


def ui_of(method: SecondFactorMethod) -> MethodUI:
    """A method's `ui`, or for a method without one: a six-digit code field (a browser prompt when its
    capabilities name a browser API) and its display name in English."""
    declared = getattr(method, "ui", None)
    if isinstance(declared, MethodUI):
        return declared
    prompt = Prompt.BROWSER_API if capabilities_of(method).browser_api else Prompt.CODE
    return MethodUI(prompt=prompt, strings={"en": MethodStrings(name=method.display_name)})


# Channels whose codes the core makes and the method delivers (for methods without `capabilities`).
_DELIVERING_CHANNELS = frozenset({"email", "sms"})


def capabilities_of(method: SecondFactorMethod) -> Capabilities:
    """A method's `capabilities`, or, for a method written before they existed, what its `channel` and
    `phishing_resistant` say (a lookup secret is something you know; everything else something you have).
    The `phishing_resistant` attribute and the descriptor never disagree: the attribute wins."""
    declared = getattr(method, "capabilities", None)
    if isinstance(declared, Capabilities):
        if declared.phishing_resistant != bool(method.phishing_resistant):
            return Capabilities(
                kind=declared.kind,
                phishing_resistant=bool(method.phishing_resistant),
                hardware_bound=declared.hardware_bound,
                delivers_codes=declared.delivers_codes,
                browser_api=declared.browser_api,
                extra=declared.extra,
            )
        return declared
    kind = AuthenticatorKind.KNOWLEDGE if method.channel == "lookup_secret" else AuthenticatorKind.POSSESSION
    return Capabilities(
        kind=kind,
        phishing_resistant=bool(method.phishing_resistant),
        delivers_codes=method.channel in _DELIVERING_CHANNELS,
    )


@dataclass(frozen=True)
class Account:
    """Whom a factor is being enrolled for."""

    user_id: str
    email: str
    # Shown by authenticator apps next to the account name.
    issuer: str
    locale: str = "en"
    # What the user typed for methods that need it (beginEnrollment's phoneNumber, for SMS).
    phone_number: str | None = None
    # beginEnrollment's (or addFactor's) `input`, checked against the method's `enrollment_input` JSON Schema;
    # `phoneNumber` is also there when given through the argument of that name (its alias).
    input: Mapping[str, object] = field(default_factory=dict)
    # The states of the user's factors of this method already enrolled (one per factor): a passkey method
    # lists their credentials so that an authenticator is not registered twice (WebAuthn's excludeCredentials).
    factors: Sequence[Mapping[str, str]] = ()


class InvalidEnrollmentInput(Exception):
    """Raised by `begin_enrollment` when what the user typed cannot be used (e.g. not a phone number).

    The core answers `InvalidInput` with this message and field; nothing is stored.
    """

    def __init__(self, message: str, field: str = "phoneNumber") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class EnrollmentDraft:
    """What `begin_enrollment` answers.

    `state` is kept by the core (encrypted at rest) and handed back to `verify` or used for delivery;
    the other fields are shown to the user once, during enrollment.
    """

    state: Mapping[str, str]
    secret: str | None = None
    provisioning_uri: str | None = None
    qr_code_svg: str | None = None
    # Where codes will go, masked for display (delivering methods).
    sent_to: str | None = None
    # For the client of a challenge-response method (JSON: e.g. WebAuthn's creation options), shown as
    # EnrollmentStarted.options; the client answers it with confirmEnrollment's `code` (JSON text).
    options: Mapping[str, object] | None = None


@dataclass(frozen=True)
class CodeDelivery:
    """A code the core made, to be delivered by a code-delivering method."""

    state: Mapping[str, str]
    code: str
    purpose: Literal["login", "enrollment"]
    expires_at: datetime
    locale: str = "en"
    # The account's email address now, for a login or step-up code (None while enrolling: the state has
    # the address being proven). A method whose codes go to the account's address sends them here, so that
    # they follow a confirmed address change (R13) instead of going on to the address it was enrolled with.
    account_email: str | None = None


@dataclass(frozen=True)
class Verified:
    """What `verify` answers for a right code when the method's state changes with each use.

    `counter` is the matched code's counter, as a bare int answer would be (the replay guard, S8, refuses
    it again and anything before it); `state`, when given, replaces the factor's state. The core stores
    both in the same conditional update that accepts the counter: the new state is written only with an
    accepted code, exactly once, even when two requests use codes of one factor at once. No method needs
    a table of its own for this (an HOTP counter, a WebAuthn signature count).
    """

    counter: int
    state: Mapping[str, str] | None = None


class Mailer(Protocol):
    """The core's mail service, handed to methods that deliver codes by email."""

    async def send(self, template: str, *, to: str, locale: str, **values: object) -> None:
        """Render a template (fi/en) and deliver it through the `deliver_email` hook."""


@runtime_checkable
class CodeCheckingMethod(SecondFactorMethod, Protocol):
    """A method that checks codes against a secret it keeps in its state (e.g. TOTP)."""

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """Make the factor's state (e.g. a new secret) and what the user needs to set it up."""

    async def verify(self, state: Mapping[str, str], code: str) -> int | Verified | None:
        """The counter of the matched code (TOTP: its time step), or `Verified(counter, new_state)` when
        the state changes with each use, or None when the code is wrong."""


@runtime_checkable
class CodeDeliveringMethod(SecondFactorMethod, Protocol):
    """A method whose codes the core makes and checks, and the method delivers (email, SMS)."""

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """Make the factor's state (e.g. where codes go); the core then sends the first code."""

    async def send_code(self, delivery: CodeDelivery, mailer: Mailer) -> str:
        """Deliver `delivery.code`; return where it went, masked for display."""


@dataclass(frozen=True)
class ChallengeOptions:
    """A challenge-response method's answer to one challenge: `options` for the client (JSON: e.g.
    WebAuthn's request options, shown as SecondFactorChallenge.options) and `pending`, which the core keeps
    with the challenge, encrypted, and hands back to `verify_response` (e.g. the random challenge)."""

    options: Mapping[str, object]
    pending: Mapping[str, str]


@runtime_checkable
class ChallengeResponseMethod(SecondFactorMethod, Protocol):
    """A method whose client answers a challenge with a structured response instead of a typed code
    (passkeys, security keys). The client asks for the challenge (beginSecondFactor, or beginEnrollment
    when enrolling) and sends its response as JSON text where other methods send a code."""

    async def begin_enrollment(self, account: Account) -> EnrollmentDraft:
        """The draft's `state` holds what finishing needs (the registration challenge); its `options` go
        to the client."""

    async def finish_enrollment(self, state: Mapping[str, str], response: Mapping[str, object]) -> Verified | None:
        """The client's registration response checked against the draft's state: `Verified(counter,
        state)` with the new factor's state (required), or None when the response is not right."""

    async def begin_challenge(self, states: Sequence[Mapping[str, str]]) -> ChallengeOptions:
        """A challenge over the user's factors of this method (`states`, one per factor: e.g. WebAuthn's
        allowed credentials)."""

    async def verify_response(
        self, state: Mapping[str, str], pending: Mapping[str, str], response: Mapping[str, object]
    ) -> int | Verified | None:
        """Whether `response` answers the pending challenge with the factor whose state is `state`: its
        counter (a signature count) or Verified with the new state, or None."""


@runtime_checkable
class LookupSecretMethod(SecondFactorMethod, Protocol):
    """Single-use codes the user keeps (recovery codes); the core stores their digests."""

    count: int

    def new_codes(self) -> list[str]:
        """A fresh set of `count` codes, each with at least 64 bits of entropy (S11)."""

    def normalize(self, code: str) -> str:
        """The canonical form of a typed code (case, separators), before hashing."""


@dataclass(frozen=True)
class PolicyRequirement:
    """A plugin's answer to `policy_requirements`: it can only tighten the core's policy.

    `two_factor` demands two factors even where no customer enforces them; `allowed_methods`
    narrows the methods the user may enroll (intersected with the customers' own lists).

    `login_methods` narrows the factors that finish the user's login and step-up (R6, R14): only factors
    of these methods are offered and accepted, recovery codes included only when named (`recovery_code`).
    Several answers intersect. So that it never locks anyone out, the core applies it only while the user
    has an enrolled factor of one of these methods; and it refuses to remove the last such factor while the
    requirement stands. Name the same methods in `allowed_methods`, so that a user without one enrolls one.
    """

    reason: str
    two_factor: bool = False
    allowed_methods: frozenset[str] | None = field(default=None)
    login_methods: frozenset[str] | None = field(default=None)
