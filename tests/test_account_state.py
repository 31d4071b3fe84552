"""R9 and the account's state machine (gql_server/auth/account_state.py): one writer, forward moves only,
and of two racing moves exactly one wins."""

from __future__ import annotations

import ast
import asyncio
import itertools
import re
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

import gql_server
from gql_server.auth import account_state
from gql_server.auth.account_state import (
    CONVERSION_PENDING,
    INVITED_TWO_FACTOR,
    PASSWORD_ONLY,
    STATE_COLUMNS,
    STATES,
    TWO_FACTOR,
    AccountState,
    IllegalTransition,
    StateChanged,
    is_two_factor,
    transition,
)
from gql_server.enums import ConversionState, LoginMethod, MembershipLevel
from gql_server.models import User

PASSWORD = "correct horse battery"
SOURCE = Path(gql_server.__file__).parent
STATE_MODULE = SOURCE / "auth" / "account_state.py"

# --- (a) one writer ---------------------------------------------------------------------------------

# ORM calls whose keyword arguments (or ** dicts) are column values written to the row.
WRITING_CALLS = frozenset(
    {"update", "create", "get_or_create", "update_or_create", "update_from_dict", "bulk_update", "bulk_create"}
)
RAW_SET = re.compile(r"\bSET\b[\s\S]*?[\"`]?\b(login_method|conversion)\b[\"`]?\s*=", re.IGNORECASE)


def _keys(node: ast.AST | None) -> set[str]:
    """State column names a dict literal, a dict(...) call or a list of names mentions."""
    if isinstance(node, ast.Dict):
        return {k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in STATE_COLUMNS}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {k.arg for k in node.keywords if k.arg in STATE_COLUMNS}
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return {e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in STATE_COLUMNS}
    return set()


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Tuple | ast.List):
        return [t for element in node.elts for t in _targets(element)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    return [node]


class StateWrites(ast.NodeVisitor):
    """Finds every way a module writes a state column that a reader would recognise: attribute or item
    assignment, setattr, ORM write calls (keywords, ** of a dict that names them, update_fields,
    defaults), and raw SQL that SETs them."""

    def __init__(self, tree: ast.Module) -> None:
        # Names bound (anywhere in the module) to a dict that carries a state column: splatting one of
        # them into a write is a write (the old `fields |= {"login_method": ...}; User.create(**fields)`).
        self.carriers = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and _keys(node.value)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        self.found: list[tuple[int, str]] = []

    def _assigned(self, targets: list[ast.AST], line: int) -> None:
        for target in (t for node in targets for t in _targets(node)):
            if isinstance(target, ast.Attribute) and target.attr in STATE_COLUMNS:
                self.found.append((line, f"assigns .{target.attr}"))
            if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                if target.slice.value in STATE_COLUMNS:
                    self.found.append((line, f"assigns [{target.slice.value!r}]"))

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assigned(node.targets, node.lineno)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._assigned([node.target], node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assigned([node.target], node.lineno)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and name.value in STATE_COLUMNS:
                self.found.append((node.lineno, f"setattr {name.value}"))
        if isinstance(func, ast.Attribute) and func.attr in WRITING_CALLS | {"save"}:
            for keyword in node.keywords:
                written = self._written_by(keyword, func.attr)
                if written:
                    self.found.append((node.lineno, f".{func.attr}() writes {sorted(written)}"))
        self.generic_visit(node)

    def _written_by(self, keyword: ast.keyword, method: str) -> set[str]:
        if keyword.arg in ("update_fields", "defaults"):
            return _keys(keyword.value)
        if method == "save":
            return set()
        if keyword.arg in STATE_COLUMNS:
            return {keyword.arg}
        if keyword.arg is None:  # **something
            if isinstance(keyword.value, ast.Name) and keyword.value.id in self.carriers:
                return {f"**{keyword.value.id}"}
            return _keys(keyword.value)
        return set()

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and RAW_SET.search(node.value):
            self.found.append((node.lineno, "raw SQL SETs a state column"))

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        if RAW_SET.search(text):
            self.found.append((node.lineno, "raw SQL SETs a state column"))


def state_writes(source: str) -> list[tuple[int, str]]:
    """Where `source` writes the account's state columns."""
    tree = ast.parse(source)
    visitor = StateWrites(tree)
    visitor.visit(tree)
    return visitor.found


def test_r9_only_the_state_module_writes_the_state_columns():
    """Every write of login_method and conversion goes through auth/account_state.py (migrations aside)."""
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path == STATE_MODULE or "migrations" in path.relative_to(SOURCE).parts:
            continue
        found = state_writes(path.read_text())
        if found:
            offenders[str(path.relative_to(SOURCE))] = found
    assert offenders == {}


def test_r9_the_scan_sees_the_state_module_write():
    """The scan is not blind: the one module allowed to write the columns is found writing them."""
    found = state_writes(STATE_MODULE.read_text())
    kinds = {description.split(" ")[0] for _, description in found}
    assert {".create()", ".update()", "assigns"} <= kinds, found


@pytest.mark.parametrize(
    "source",
    [
        "user.login_method = LoginMethod.TWO_FACTOR",
        "user.conversion, x = ConversionState.PENDING, 1",
        "setattr(user, 'conversion', value)",
        "await User.filter(id=i).update(conversion=ConversionState.PENDING, pending_email=a)",
        "await User.create(email=e, login_method=LoginMethod.PASSWORD)",
        "fields = {'email': e}\nfields |= {'login_method': m}\nawait User.create(**fields)",
        "changes: dict[str, object] = {'conversion': c}\nawait User.filter(id=i).update(**changes)",
        "await User.filter(id=i).update(**{'login_method': m})",
        "changes['conversion'] = c",
        "await user.save(update_fields=['conversion'])",
        "await User.update_or_create(defaults={'login_method': m}, id=i)",
        "await db.execute_query('UPDATE \"user\" SET conversion = $1 WHERE id = $2', values)",
        "sql = f'UPDATE user SET {a} = 1, login_method = {b}'",
    ],
)
def test_r9_the_scan_catches_each_way_of_writing(source):
    assert state_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        "await User.filter(login_method=LoginMethod.TWO_FACTOR).count()",
        "await auditor.record(kind, data={'login_method': user.login_method.value})",
        "view = UserView(login_method=user.login_method, conversion=user.conversion)",
        "starting = user.conversion is ConversionState.NOT_STARTED",
    ],
)
def test_the_scan_lets_reads_be(source):
    assert state_writes(source) == []


# --- (b) the transitions ----------------------------------------------------------------------------

ALLOWED = {
    (PASSWORD_ONLY, CONVERSION_PENDING),  # R4, R8: the first invitation is sent
    (CONVERSION_PENDING, TWO_FACTOR),  # R5: the conversion completes with a factor
    (INVITED_TWO_FACTOR, TWO_FACTOR),  # R5: a created two-factor account enrolls its first factor
    # Staying: a re-sent invitation, an operator's reset, another factor from an invitation.
    *((state, state) for state in STATES),
}
REFUSED = {
    (CONVERSION_PENDING, PASSWORD_ONLY): "R4: a started conversion never lets password-only login back",
    (INVITED_TWO_FACTOR, PASSWORD_ONLY): "R9: a two-factor account never becomes a password account",
    (INVITED_TWO_FACTOR, CONVERSION_PENDING): "R9: a two-factor account never becomes a password account",
    (TWO_FACTOR, PASSWORD_ONLY): "R9: no way back to PASSWORD",
    (TWO_FACTOR, CONVERSION_PENDING): "R9: a converted account never goes back to pending",
    (TWO_FACTOR, INVITED_TWO_FACTOR): "R9: a completed conversion stays completed",
    (PASSWORD_ONLY, TWO_FACTOR): "R4, R5: nobody becomes two-factor without an invitation and a factor",
    (PASSWORD_ONLY, INVITED_TWO_FACTOR): "only an operator creates an account in INVITED_TWO_FACTOR",
    (CONVERSION_PENDING, INVITED_TWO_FACTOR): "only an operator creates an account in INVITED_TWO_FACTOR",
}
# States no code writes: nothing moves from them, and they count as two-factor if either column says so.
UNNAMED = [
    AccountState(LoginMethod.PASSWORD, ConversionState.COMPLETED),
    AccountState(LoginMethod.TWO_FACTOR, ConversionState.NOT_STARTED),
]


def _pair_id(pair: tuple[AccountState, AccountState]) -> str:
    return f"{pair[0]}->{pair[1]}"


def test_every_pair_of_states_is_either_allowed_or_refused():
    assert set(itertools.product(STATES, repeat=2)) == ALLOWED | REFUSED.keys()
    assert not ALLOWED & REFUSED.keys()


@pytest.mark.parametrize("pair", sorted(REFUSED, key=_pair_id), ids=_pair_id)
def test_r9_the_machine_refuses_the_move(pair):
    current, target = pair
    with pytest.raises(IllegalTransition) as refused:
        transition(current, target)
    assert (refused.value.current, refused.value.target) == (current, target)


@pytest.mark.parametrize("pair", sorted(ALLOWED, key=_pair_id), ids=_pair_id)
def test_the_machine_allows_the_forward_moves_and_staying(pair):
    current, target = pair
    assert transition(current, target) == target


@pytest.mark.parametrize("current", UNNAMED, ids=str)
def test_r9_nothing_moves_from_a_state_no_code_writes(current):
    for target in (*STATES, current):
        with pytest.raises(IllegalTransition):
            transition(current, target)
    assert current.is_two_factor


def test_r9_two_factor_is_one_definition_and_for_good():
    assert [state.is_two_factor for state in STATES] == [False, False, True, True]
    assert [state.conversion_started for state in STATES] == [False, True, True, True]
    # Every allowed move out of a two-factor state stays two-factor.
    assert all(target.is_two_factor for current, target in ALLOWED if current.is_two_factor)


async def _in_state(user: User, state: AccountState) -> User:
    """Put a test user's row in `state` (tests may write the columns; the service may not)."""
    await User.filter(id=user.id).update(login_method=state.login_method, conversion=state.conversion)
    return await User.get(id=user.id)


async def test_r9_a_refused_move_writes_nothing(app, make_customer, make_user):
    anna = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    for current, target in REFUSED:
        user = await _in_state(anna, current)
        with pytest.raises(IllegalTransition):
            await account_state.move(user, target, pending_email="elsewhere@example.com")
        row = await User.get(id=anna.id)
        assert (AccountState.of(row), row.pending_email) == (current, None)


async def test_r19_a_new_account_is_password_only_or_two_factor_from_the_start(app, operator, make_customer):
    acme = await make_customer()
    with_password = await operator.create_user(
        customer_id=str(acme.id), email="pia@example.com", level=MembershipLevel.COMPANY, password=PASSWORD
    )
    invited = await operator.create_user(
        customer_id=str(acme.id), email="ian@example.com", level=MembershipLevel.COMPANY, password=None
    )

    assert AccountState.of(await User.get(id=with_password.user.id)) == PASSWORD_ONLY
    assert AccountState.of(await User.get(id=invited.user.id)) == INVITED_TWO_FACTOR
    assert is_two_factor(invited.user)
    for state in (CONVERSION_PENDING, TWO_FACTOR):
        with pytest.raises(IllegalTransition):
            await account_state.create_account(state, email="nobody@example.com")
    assert not await User.filter(email="nobody@example.com").exists()


# --- (c) the race -----------------------------------------------------------------------------------

FORWARD = sorted(account_state.FORWARD, key=_pair_id)


@pytest.mark.parametrize("pair", FORWARD, ids=_pair_id)
async def test_r9_of_two_racing_moves_exactly_one_wins(app, make_customer, make_user, pair):
    current, target = pair
    anna = await _in_state(await make_user(await make_customer(), "anna@example.com", PASSWORD), current)
    # Two requests read the account in the same state before either writes.
    first, second = await User.get(id=anna.id), await User.get(id=anna.id)

    async def attempt(user: User, address: str) -> AccountState:
        async with in_transaction():
            left = await account_state.move(user, target, pending_email=address)
            # Hold the written row a moment: on PostgreSQL the other UPDATE waits for this commit,
            # then finds the row no longer in the state it expects.
            await asyncio.sleep(0.05)
            return left

    results = await asyncio.gather(
        attempt(first, "first@example.com"), attempt(second, "second@example.com"), return_exceptions=True
    )

    assert sorted(type(r).__name__ for r in results) == ["AccountState", "StateChanged"], results
    won = "first@example.com" if results[0] == current else "second@example.com"
    row = await User.get(id=anna.id)
    assert (AccountState.of(row), row.pending_email) == (target, won)
    assert any(isinstance(r, StateChanged) for r in results)
