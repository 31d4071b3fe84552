"""What the hostile examples are drawn from, and how many: the Hypothesis settings, hostile text, emails
and confusables of the world's addresses, damaged tokens, codes, passwords, phone numbers, JSON values
of any shape, and documents that are huge, deep or malformed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

EXAMPLES = 200

HOSTILE = hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    # No example database: a failure prints its example, and the `ci` profile (tests/conftest.py) draws
    # the same examples on every run anyway; `make test-explore` draws new ones.
    database=None,
    # No "explain" phase: it reruns a failing example many times for a hint the example already gives.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
    # The world is built once per test function on purpose: examples must not change it.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# The queries and the request-level properties, which are not per mutation, run half as many.
FEWER = hypothesis_settings(HOSTILE, max_examples=EXAMPLES // 2)


# The world's accounts (tests/hostile/world.py). Confusables are made from these addresses.
ADMIN = "kim.admin@acme.example"
PENDING = "pat.pending@acme.example"
NEW = "eve.new@acme.example"
OTHER = "paula@other.example"
FIXTURE_EMAILS = (ADMIN, PENDING, NEW, OTHER)

KNOWN_METHODS = ("totp", "email_code", "sms", "recovery_code")
ENROLLABLE = frozenset({"totp", "email_code", "sms"})


CONTROL_CHARACTERS = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.characters(
    min_codepoint=0x7F, max_codepoint=0x9F
)
# Characters that have broken string handling somewhere: invisible, direction overrides, combining
# marks, characters whose lower case is longer or ASCII, non-characters, the highest code point, and
# the usual injection punctuation.
TRICKY_CHARACTERS = st.sampled_from(
    [
        "\x00",
        "\u200b",
        "\u200d",
        "\u202e",
        "\u2066",
        "\ufeff",
        "\u0301",
        "\u00a0",
        "\u3000",
        "\u2028",
        "\u2029",
        "\u0085",
        "\ufffe",
        "\uffff",
        "\U0010ffff",
        "\U0001f600",
        "\u212a",
        "\u0130",
        "\u00df",
        "\ufb01",
        "'",
        '"',
        "\\",
        "%",
        "_",
        "*",
        ";",
        "$",
        "{",
        "}",
        "<",
        ">",
        "&",
        "#",
        "/",
        "@",
        ".",
    ]
)
SPECIAL_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\t\n",
        "null",
        "None",
        "undefined",
        "0",
        "-1",
        "1e309",
        "NaN",
        "true",
        "[]",
        "{}",
        "%00",
        "\\u0000",
        "' OR '1'='1",
        '\'; DROP TABLE "user"; --',
        "${jndi:ldap://example.invalid/a}",
        "{{7*7}}",
        "<script>alert(1)</script>",
        "../../../../etc/passwd",
        "__proto__",
        "a" * 1025,
        "1" * 6,
        "000000",
        "123456 ",
        "\u0661\u0662\u0663\u0664\u0665\u0666",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
    ]
)


def _repeat(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


# Very long strings are built from a short unit: Hypothesis need not draw 100 000 characters one by one.
LONG_STRINGS = st.builds(
    _repeat,
    st.text(min_size=1, max_size=4) | st.text(CONTROL_CHARACTERS | TRICKY_CHARACTERS, min_size=1, max_size=4),
    st.sampled_from([257, 321, 1025, 4097, 65_536, 100_000]) | st.integers(1_000, 100_000),
)

HOSTILE_TEXT = st.one_of(
    st.text(max_size=64),
    st.text(CONTROL_CHARACTERS | TRICKY_CHARACTERS, max_size=32),
    st.text(st.characters(codec="utf-8"), max_size=32).map(lambda s: s + "\x00"),
    SPECIAL_STRINGS,
    LONG_STRINGS,
)

# Lookalikes that are different characters after `normalize_email` (lower case), from Cyrillic,
# Greek, full-width and other blocks. The Kelvin sign is left out on purpose: it lower-cases to "k".
CONFUSABLES: dict[str, tuple[str, ...]] = {
    "a": ("\u0430", "\u03b1", "\uff41", "\u0251"),
    "c": ("\u0441", "\u03f2", "\uff43"),
    "e": ("\u0435", "\u0454", "\uff45"),
    "i": ("\u0456", "\u0131", "\u04cf", "\uff49"),
    "l": ("\u04cf", "\u217c", "\u0131", "\uff4c"),
    "m": ("\u217f", "\uff4d"),
    "n": ("\u0578", "\uff4e"),
    "o": ("\u043e", "\u03bf", "\u0585", "\uff4f", "\u2134"),
    "p": ("\u0440", "\u03c1", "\uff50"),
    "t": ("\u0442", "\uff54"),
    "u": ("\u057d", "\u03c5", "\uff55"),
    "x": ("\u0445", "\u03c7", "\uff58"),
    "y": ("\u0443", "\u03b3", "\uff59"),
    "k": ("\u03ba", "\u043a", "\uff4b"),
    "@": ("\uff20", "\ufe6b"),
    ".": ("\u2024", "\uff0e", "\u3002", "\u0701"),
}
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u0301", "\u202e")


def _confuse(email: str, swaps: list[tuple[int, int]], inserts: list[tuple[int, int]]) -> str:
    chars = list(email)
    for position, choice in swaps:
        options = [i for i, ch in enumerate(chars) if ch in CONFUSABLES]
        index = options[position % len(options)]
        lookalikes = CONFUSABLES[chars[index]]
        chars[index] = lookalikes[choice % len(lookalikes)]
    for position, choice in inserts:
        chars.insert(position % (len(chars) + 1), INVISIBLE[choice % len(INVISIBLE)])
    return "".join(chars)


CONFUSABLE_EMAILS = st.builds(
    _confuse,
    st.sampled_from(FIXTURE_EMAILS),
    st.lists(st.tuples(st.integers(0, 99), st.integers(0, 9)), min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 99), st.integers(0, 9)), max_size=2),
) | st.builds(
    _confuse,
    st.sampled_from(FIXTURE_EMAILS),
    st.just([]),
    st.lists(st.tuples(st.integers(0, 99), st.integers(0, 9)), min_size=1, max_size=3),
)

EMAILS = st.one_of(
    HOSTILE_TEXT,
    CONFUSABLE_EMAILS,
    st.emails(),
    st.builds("{}@{}".format, HOSTILE_TEXT, st.sampled_from(["acme.example", "other.example", "example.com"])),
    st.builds("{}@{}.example".format, st.sampled_from(["kim.admin", "pat", "x"]), HOSTILE_TEXT),
)

BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Live:
    """The world's live token of this name, as is."""

    name: str


@dataclass(frozen=True)
class Mangled:
    """The world's live token of this name, damaged in one way (never equal to the original)."""

    name: str
    how: str
    at: int
    char: str


MANGLINGS = ("flip", "truncate", "append", "prepend", "swapcase", "pad", "spaces", "double", "percent", "nul")


def mangle(token: str, how: str, at: int, char: str) -> str:
    """`token` damaged the way a Mangled example says."""
    i = at % len(token)
    match how:
        case "flip":
            replacement = BASE64URL[(BASE64URL.index(token[i]) + 1 + at % 63) % 64]
            return token[:i] + replacement + token[i + 1 :]
        case "truncate":
            return token[:i]
        case "append":
            return token + char
        case "prepend":
            return char + token
        case "swapcase":
            return token.swapcase()
        case "pad":
            return token + "=" * (1 + at % 3)
        case "spaces":
            return f" {token} "
        case "double":
            return token * 2
        case "percent":
            return "".join(f"%{ord(c):02X}" for c in token)
        case _:
            return token[:i] + "\x00" + token[i:]


def either(first: st.SearchStrategy[Any], second: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Half of the examples from each (`|` would flatten both into one list of equally likely branches)."""
    return st.booleans().flatmap(lambda pick: first if pick else second)


def mangled(*names: str) -> st.SearchStrategy[Mangled]:
    """Damaged copies of the world's live tokens."""
    # Characters UTF-8 can carry: a lone surrogate cannot be sent in a header or in JSON at all (it is
    # refused at the JSON boundary, tested on its own), and `.encode("utf-8")` of one fails in the test.
    return st.builds(
        Mangled,
        st.sampled_from(names),
        st.sampled_from(MANGLINGS),
        st.integers(0, 10_000),
        st.characters(codec="utf-8"),
    )


def tokens(*names: str) -> st.SearchStrategy[str | Mangled]:
    """Malformed tokens: any text, random base64url of any length, damaged live tokens."""
    return st.one_of(
        HOSTILE_TEXT,
        st.text(BASE64URL, max_size=100),
        st.text(BASE64URL, min_size=43, max_size=43),
        mangled(*names),
    )


METHODS = either(
    st.sampled_from([*KNOWN_METHODS, "TOTP", "totp ", " totp", "Email_Code", "recovery-code"]), HOSTILE_TEXT
)
CODES = st.one_of(
    HOSTILE_TEXT,
    st.text("0123456789", min_size=0, max_size=12),
    st.text("0123456789 -", min_size=6, max_size=12),
    st.text("abcdefghijklmnopqrstuvwxyz234567-", min_size=16, max_size=24),
)
# Passwords as text (a String! argument), and as an optional argument.
PASSWORD_TEXT = st.one_of(
    HOSTILE_TEXT,
    st.text(min_size=8, max_size=40),
    st.just("password"),
    st.just("correct horse battery"),
)
PASSWORDS = st.none() | PASSWORD_TEXT
# Numbers that cannot receive a text; the rare valid one is skipped by the test (it would begin an
# enrollment, which is the flow working, not hostile input).
PHONE_NUMBERS = st.one_of(
    st.none(),
    HOSTILE_TEXT,
    st.text("+0123456789 ()-./", max_size=30),
    st.builds("+{}".format, st.text("0123456789", min_size=16, max_size=40)),
    st.builds("00{}".format, st.text("0123456789", min_size=0, max_size=3)),
    st.builds("+358 40 {}".format, HOSTILE_TEXT),
)
# Any JSON value, for variables of the wrong type.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**31)
    | st.floats()
    | st.text(max_size=16)
    | SPECIAL_STRINGS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def has_surrogate(value: Any) -> bool:
    """Whether a generated value holds a lone surrogate anywhere."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    return False


def has_nul(value: Any) -> bool:
    """Whether a generated value holds U+0000 anywhere, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


# --------------------------------------------------------------------------------------------------
# Spellings of an id
# --------------------------------------------------------------------------------------------------


def uuid_spellings(value: str) -> list[str]:
    """Other ways to write a real id: upper case, braces, a URN, bare hex, padded, with NUL, cut short."""
    parsed = uuid.UUID(value)
    return [value.upper(), f"{{{value}}}", f"urn:uuid:{value}", parsed.hex, f" {value} ", value + "\x00", value[:-1]]


def same_id(value: str, real: str) -> bool:
    """Whether `value` is some spelling of the id `real` (which the service may accept as that id)."""
    try:
        return uuid.UUID(value) == uuid.UUID(real)
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------
# Huge, deep and malformed documents
# --------------------------------------------------------------------------------------------------

# A harmless selection for documents: a mutation that changes nothing with these arguments.
HARMLESS = 'verifySecondFactor(challenge: "nope", method: "totp", code: "000000") { __typename }'


def _aliases(count: int) -> str:
    return "mutation { " + " ".join(f"a{i}: {HARMLESS}" for i in range(count)) + " }"


def _deep(depth: int) -> str:
    path = (["viewer", "user"] + ["memberships", "customer", "enforcementImpact", "usersToConvert"] * depth)[:depth]
    return "{ " + " { ".join(path) + " { __typename" + " }" * (len(path) + 1)


def _nested_fragments(depth: int) -> str:
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(depth))
    return f"{{ ...F0 }} {fragments} fragment F{depth} on Query {{ __typename }}"


def _cyclic_fragments(size: int) -> str:
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{(i + 1) % size} }}" for i in range(size))
    return f"{{ ...F0 }} {fragments}"


def _inline_nesting(depth: int) -> str:
    return "{ " + "... on Query { " * depth + "__typename" + " }" * depth + " }"


def _list_literal(depth: int) -> str:
    return "{ invitation(token: " + "[" * depth + '"x"' + "]" * depth + ") { email } }"


def _long_literal(text: str) -> str:
    return "{ invitation(token: " + json.dumps(text) + ") { email } }"


def _directives(count: int) -> str:
    return "{ __typename " + "@include(if: true) " * count + "}"


def _many_variables(count: int) -> str:
    definitions = " ".join(f"$v{i}: String" for i in range(count))
    return f"query Q({definitions}) {{ __typename }}"


def _selections(count: int) -> str:
    return "{ " + "__typename " * count + "}"


def _document(kind: str, build: Callable[[int], str], sizes: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    return st.builds(lambda n: (kind, n, build(n)), sizes)


DOCUMENTS = st.one_of(
    _document("aliases", _aliases, st.integers(1, 60)),
    _document("depth", _deep, st.integers(1, 60)),
    _document("fragments", _nested_fragments, st.integers(1, 3000)),
    _document("cycle", _cyclic_fragments, st.integers(1, 200)),
    _document("inline", _inline_nesting, st.integers(1, 3000)),
    _document("list", _list_literal, st.integers(1, 5000)),
    _document("directives", _directives, st.integers(1, 3000)),
    _document("variables", _many_variables, st.integers(1, 3000)),
    _document("selections", _selections, st.integers(1, 5000)),
    st.builds(lambda text: ("literal", len(text), _long_literal(text)), LONG_STRINGS | HOSTILE_TEXT),
    st.builds(
        lambda unit, n: ("repeated", n, unit * n),
        st.sampled_from(["{", "}", "[", "(", "...", "#", "\\", '"', "query ", "@a ", "mutation { "]),
        st.integers(1, 100_000),
    ),
    st.builds(lambda text: ("text", len(text), text), HOSTILE_TEXT),
)
