"""Every limit in one place (gql_server/limits.py): each names its rule, the settings take their defaults
from it, and no other module of the package writes a numeric limit of its own."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError

from gql_server import limits
from gql_server.settings import Settings

PACKAGE = Path(limits.__file__).parent
LIMITS_SOURCE = Path(limits.__file__).read_text(encoding="utf-8")
# A rule of the product contract: R (product), S (security), P (performance), then its number.
RULE_ID = re.compile(r"\b[RSP][1-9][0-9]*\b")
SETTING = re.compile(r"\bsetting: ([A-Z][A-Z0-9_]*)")
RATE = re.compile(r"[0-9]+/(second|minute|hour|day)")

# Settings whose default is a number but not a limit.
NOT_LIMIT_SETTINGS = {"metrics_port": "a port number"}

# Module-level numbers elsewhere that are not limits of this service, and why.
NOT_LIMITS = {
    ("cli.py", "EXIT_REFUSED"): "a process exit status",
    ("cli.py", "EXIT_USAGE"): "a process exit status",
    ("body_limit.py", "PAYLOAD_TOO_LARGE"): "an HTTP status code",
    ("db.py", "SQLITE_FILE_MODE"): "a file permission (S42), not an amount",
    ("health.py", "PROBE_ROW"): "the id of the one health-probe row",
    ("rotation.py", "SHOWN_IDS"): "how many ids an error message lists",
    ("api/customers.py", "MAX_AUDIT_EVENT_ID"): "the largest BIGINT, a column type's bound",
    ("emails.py", "MAX_EMAIL_LENGTH"): "RFC 5321's bound on a path, a fact of the format",
    ("emails.py", "MAX_ADDRESS_OCTETS"): "RFC 5321's bound on an address, a fact of the format",
    ("emails.py", "MAX_LOCAL_PART_OCTETS"): "RFC 5321's bound on a local part, a fact of the format",
    ("method_kinds.py", "_MOST"): "the size of a memo with one entry per registered method and protocol (only apps "
    "started again and again in one process, the tests, ever fill it): no request can grow it",
    ("http_media.py", "_CACHED_LENGTH"): "the longest Accept header whose negotiation is memoised; longer ones are "
    "negotiated every time, nothing is refused",
}

# Parameter defaults that are numbers but not limits.
NOT_LIMIT_DEFAULTS = {("web/routes.py", "file_response", "status_code"): "an HTTP status code"}


@dataclass(frozen=True)
class Entry:
    """One constant of gql_server/limits.py and the comment above it."""

    name: str
    comment: str


def _entries() -> list[Entry]:
    lines = LIMITS_SOURCE.splitlines()
    entries = []
    for node in ast.parse(LIMITS_SOURCE).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            assert isinstance(target, ast.Name)
            above = []
            row = node.lineno - 2
            while row >= 0 and lines[row].startswith("#") and not lines[row].startswith("# ---"):
                above.insert(0, lines[row].lstrip("# "))
                row -= 1
            entries.append(Entry(target.id, " ".join(above)))
    return entries


def _is_number(node: ast.expr) -> bool:
    """A number written in place: a literal, arithmetic on literals, a timedelta of them, or a tuple of these."""
    match node:
        case ast.Constant(value=bool()):
            return False
        case ast.Constant(value=int() | float()):
            return True
        case ast.Constant(value=str() as text):
            return RATE.fullmatch(text) is not None
        case ast.UnaryOp(operand=operand):
            return _is_number(operand)
        case ast.BinOp(left=left, right=right):
            return _is_number(left) and _is_number(right)
        case ast.Call(func=ast.Name(id="timedelta")):
            return True
        case ast.Tuple(elts=elements):
            return bool(elements) and all(_is_number(e) for e in elements)
    return False


def _numeric_constants() -> dict[tuple[str, str], ast.expr]:
    """Upper-case names given a number at module or class level, in every module but limits.py."""
    found: dict[tuple[str, str], ast.expr] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "limits.py" or relative.startswith("migrations/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bodies = [tree.body, *(n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef))]
        for body in bodies:
            for node in body:
                if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                    targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                    for target in targets:
                        if isinstance(target, ast.Name) and target.id.isupper() and _is_number(node.value):
                            found[relative, target.id] = node.value
    return found


def test_every_limit_names_its_rule():
    entries = _entries()
    assert len(entries) > 50
    unnamed = [e.name for e in entries if not RULE_ID.search(e.comment)]
    assert unnamed == [], "each constant of limits.py needs a comment naming its rule (R12, S4, P4, ...)"
    public = {name for name in vars(limits) if name.isupper()}
    assert public == {e.name for e in entries}


def test_every_setting_that_is_a_limit_takes_its_default_from_limits():
    configurable = {}
    for entry in _entries():
        if match := SETTING.search(entry.comment):
            configurable[match[1].lower()] = entry.name
    assert len(configurable) >= 14
    for field_name, constant in configurable.items():
        assert field_name in Settings.model_fields, f"{constant} names no setting {field_name.upper()}"
        assert Settings.model_fields[field_name].default == getattr(limits, constant), field_name
    numeric = {
        name
        for name, info in Settings.model_fields.items()
        if (isinstance(info.default, int | float) and not isinstance(info.default, bool))
        or (isinstance(info.default, str) and RATE.fullmatch(info.default))
    }
    assert numeric - set(configurable) == set(NOT_LIMIT_SETTINGS)


def test_the_settings_read_the_limits_and_write_no_number_of_their_own():
    """A default written in settings.py instead of read from limits.py would pass the check above until
    someone changed one of the two; the source says which it is."""
    source = (PACKAGE / "settings.py").read_text(encoding="utf-8")
    written = re.findall(r"default=([0-9][0-9_.]*)", source) + re.findall(r': str = "([0-9]+/\w+)"', source)
    assert written == ["9464"]  # metrics_port, not a limit


def test_secret_key_length_is_the_limit():
    with pytest.raises(ValidationError, match=f"at least {limits.SECRET_KEY_MIN_LENGTH} characters"):
        Settings(_env_file=None, secret_key="k" * (limits.SECRET_KEY_MIN_LENGTH - 1))
    assert Settings(_env_file=None, secret_key="k" * limits.SECRET_KEY_MIN_LENGTH).secret_key


def test_no_other_module_writes_a_numeric_limit():
    found = _numeric_constants()
    unexplained = sorted(set(found) - set(NOT_LIMITS))
    assert unexplained == [], "put limits in gql_server/limits.py under their rule (or explain them in NOT_LIMITS)"
    assert set(NOT_LIMITS) <= set(found), "an exception no longer needed: remove it from NOT_LIMITS"


def test_no_function_defaults_to_a_numeric_limit():
    """A default like `settle(within=5.0)` is a limit too: it belongs in limits.py."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        # The test kit (gql_server/testing) waits for mail in tests; its timeouts limit nothing of the service.
        if relative == "limits.py" or relative.startswith(("migrations/", "testing/")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args]
                pairs = [
                    *zip(arguments[len(arguments) - len(node.args.defaults) :], node.args.defaults, strict=True),
                    *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True),
                ]
                for argument, default in pairs:
                    if default is not None and _is_number(default):
                        found.add((relative, node.name, argument.arg))
    assert found == set(NOT_LIMIT_DEFAULTS)
