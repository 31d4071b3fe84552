"""Which of the method protocols a registered method implements, answered once per method.

`isinstance` against a runtime-checkable Protocol walks the protocol's members with `hasattr` on every call
(about 20 µs on Python 3.11, several times in each second step: P3); a method's kind does not change once
it is registered, so the answer is kept, keyed by the method object itself.
"""

from __future__ import annotations

from typing import TypeGuard

from gql_server.plugin_api import (
    ChallengeResponseMethod,
    CodeCheckingMethod,
    CodeDeliveringMethod,
    LookupSecretMethod,
)

# (id of the method, protocol) -> (the method, whether it implements the protocol). The method is kept so
# that its id cannot be reused by another object while the entry exists.
_KNOWN: dict[tuple[int, type], tuple[object, bool]] = {}
# Methods are made at start-up; an app started again and again in one process (the tests) makes new ones.
_MOST = 4096


def _implements(method: object, protocol: type) -> bool:
    key = (id(method), protocol)
    known = _KNOWN.get(key)
    if known is None or known[0] is not method:
        if len(_KNOWN) >= _MOST:
            _KNOWN.clear()
        known = (method, isinstance(method, protocol))
        _KNOWN[key] = known
    return known[1]


def is_code_checking(method: object) -> TypeGuard[CodeCheckingMethod]:
    """The method checks codes itself (TOTP-like): `isinstance(method, CodeCheckingMethod)`, kept."""
    return _implements(method, CodeCheckingMethod)


def is_code_delivering(method: object) -> TypeGuard[CodeDeliveringMethod]:
    """The method delivers codes the core makes and checks: `isinstance(method, CodeDeliveringMethod)`, kept."""
    return _implements(method, CodeDeliveringMethod)


def is_challenge_response(method: object) -> TypeGuard[ChallengeResponseMethod]:
    """The method answers challenges (passkeys): `isinstance(method, ChallengeResponseMethod)`, kept."""
    return _implements(method, ChallengeResponseMethod)


def is_lookup_secret(method: object) -> TypeGuard[LookupSecretMethod]:
    """The method makes recovery codes: `isinstance(method, LookupSecretMethod)`, kept."""
    return _implements(method, LookupSecretMethod)
