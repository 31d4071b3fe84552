"""The account's state (R2(a), R4, R5, R9): one machine, and the only code that writes it.

An account's state is the pair of User columns `login_method` and `conversion`. Four pairs are states;
the other two never occur, because nothing but this module writes the columns:

    PASSWORD_ONLY       PASSWORD   / NOT_STARTED  email and password are enough (R7)
    CONVERSION_PENDING  PASSWORD   / PENDING      the invitation was sent; no password-only login (R4)
    INVITED_TWO_FACTOR  TWO_FACTOR / PENDING      created by an operator without a password: two-factor
                                                  from the start, its first factor not yet enrolled
    TWO_FACTOR          TWO_FACTOR / COMPLETED    converted; two factors for good (R6, R9)

The moves are forward only: PASSWORD_ONLY -> CONVERSION_PENDING (R4, R8), CONVERSION_PENDING ->
TWO_FACTOR and INVITED_TWO_FACTOR -> TWO_FACTOR (R5, enrolling a factor), and staying where one is
(a re-sent invitation, an operator's reset of factors, a new factor from an invitation). Every other
move is refused with IllegalTransition, whoever asks: there is no way back (R9). A move is one
conditional UPDATE (`... WHERE login_method = expected AND conversion = expected`), so of two requests
that move the same account from the same state at the same time exactly one wins; the other gets
StateChanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gql_server.enums import ConversionState, LoginMethod
from gql_server.models import User

# The state's columns: writing them anywhere else fails tests/test_account_state.py.
STATE_COLUMNS = frozenset({"login_method", "conversion"})


@dataclass(frozen=True)
class AccountState:
    """Where an account is: how it signs in, and how far its conversion to two factors has come."""

    login_method: LoginMethod
    conversion: ConversionState

    @classmethod
    def of(cls, user: User) -> AccountState:
        """The state of a loaded user row (as read: another request may have moved it since)."""
        return cls(user.login_method, user.conversion)

    @property
    def is_two_factor(self) -> bool:
        """The one definition of "two-factor": signs in with two factors, for good (R6, R9).

        Either column counts, so that even a row in none of the four states (written by hand, say)
        never lets a converted account back to one factor.
        """
        return self.login_method is LoginMethod.TWO_FACTOR or self.conversion is ConversionState.COMPLETED

    @property
    def conversion_started(self) -> bool:
        """R2(a): the conversion has started or completed; the account needs two factors whatever the
        customers' policies say (R4, R7)."""
        return self.is_two_factor or self.conversion is not ConversionState.NOT_STARTED

    def __str__(self) -> str:
        return NAMES.get(self, f"{self.login_method.value}/{self.conversion.value}")


PASSWORD_ONLY = AccountState(LoginMethod.PASSWORD, ConversionState.NOT_STARTED)
CONVERSION_PENDING = AccountState(LoginMethod.PASSWORD, ConversionState.PENDING)
INVITED_TWO_FACTOR = AccountState(LoginMethod.TWO_FACTOR, ConversionState.PENDING)
TWO_FACTOR = AccountState(LoginMethod.TWO_FACTOR, ConversionState.COMPLETED)

NAMES: Mapping[AccountState, str] = {
    PASSWORD_ONLY: "PASSWORD_ONLY",
    CONVERSION_PENDING: "CONVERSION_PENDING",
    INVITED_TWO_FACTOR: "INVITED_TWO_FACTOR",
    TWO_FACTOR: "TWO_FACTOR",
}
STATES = tuple(NAMES)

# The forward moves the product needs; staying in a state is allowed besides (never backward).
FORWARD: frozenset[tuple[AccountState, AccountState]] = frozenset(
    {
        (PASSWORD_ONLY, CONVERSION_PENDING),  # R4, R8: the invitation is sent
        (CONVERSION_PENDING, TWO_FACTOR),  # R5: the first factor is enrolled
        (INVITED_TWO_FACTOR, TWO_FACTOR),  # R5: a created two-factor account enrolls its first factor
    }
)
# What a new account may start as (`create_account`).
INITIAL = frozenset({PASSWORD_ONLY, INVITED_TWO_FACTOR})


class IllegalTransition(Exception):
    """A move the state machine refuses: backward (R9), skipping a step, or from a state it never writes."""

    def __init__(self, current: AccountState | None, target: AccountState) -> None:
        start = "a new account" if current is None else f"an account in {current}"
        super().__init__(f"{start} cannot move to {target}")
        self.current = current  # None: creating one
        self.target = target


class StateChanged(Exception):
    """The account was not in the expected state when the move was written: another request moved it
    first (or the user is gone). Nothing was written."""


def is_two_factor(user: User) -> bool:
    """Whether the user signs in with two factors, for good (R6, R9); see AccountState.is_two_factor."""
    return AccountState.of(user).is_two_factor


def transition(current: AccountState, target: AccountState) -> AccountState:
    """`target`, if the machine allows moving there from `current`; IllegalTransition otherwise."""
    if current in NAMES and (current == target or (current, target) in FORWARD):
        return target
    raise IllegalTransition(current, target)


async def move(user: User, target: AccountState, **also: Any) -> AccountState:
    """Move `user` from the state it was read in to `target` (checked by `transition`), writing `also`
    (other User columns) in the same UPDATE. Returns the state it left.

    Atomic without a transaction: one UPDATE conditional on the state read, so a move from a state the
    row has left since (a racing request's doing) writes nothing and raises StateChanged. The caller's
    row object is brought up to date.
    """
    if STATE_COLUMNS & also.keys():
        raise ValueError("the state is written through `target`, never through `also`")
    current = AccountState.of(user)
    transition(current, target)
    written = await User.filter(id=user.id, login_method=current.login_method, conversion=current.conversion).update(
        login_method=target.login_method, conversion=target.conversion, **also
    )
    if written != 1:
        raise StateChanged(f"user {user.id} is no longer {current}")
    user.login_method, user.conversion = target.login_method, target.conversion
    for column, value in also.items():
        setattr(user, column, value)
    return current


async def hold(user: User) -> None:
    """Confirm, in the caller's transaction, that `user` is still in the state it was read in (a stay);
    StateChanged if not. The row stays locked until the caller's transaction ends."""
    await move(user, AccountState.of(user))


def initial_state(*, has_password: bool) -> AccountState:
    """What a new account honestly is: with a password it signs in with it until it converts
    (PASSWORD_ONLY); without one it is two-factor from the start (R19's default), and its invitation
    enrolls the first factor (INVITED_TWO_FACTOR)."""
    return PASSWORD_ONLY if has_password else INVITED_TWO_FACTOR


async def create_account(state: AccountState, **fields: Any) -> User:
    """A new user row in `state`, one of the INITIAL states (IllegalTransition otherwise: nobody is
    created converted, whose factor nobody has enrolled)."""
    if state not in INITIAL:
        raise IllegalTransition(None, state)
    if STATE_COLUMNS & fields.keys():
        raise ValueError("the state is written through `state`, never through `fields`")
    return await User.create(login_method=state.login_method, conversion=state.conversion, **fields)
