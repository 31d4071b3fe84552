"""What a user types at enrollment (issue 16): `input` checked against the JSON Schema the method declares
(`enrollment_input`), with `phoneNumber` as the documented alias of `input.phoneNumber`.

Bad input is InvalidInput naming the field, and nothing is stored; a method whose schema is itself broken
is not offered (logged once per method), so a plugin's mistake never becomes a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import lru_cache
from itertools import islice

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry
from referencing.exceptions import Unresolvable

from gql_server.auth.results import InvalidInput, MethodNotAvailable
from gql_server.limits import (
    ENROLLMENT_INPUT_ERRORS_LOOKED_AT,
    ENROLLMENT_INPUT_MAX_BYTES,
    ENROLLMENT_INPUT_MESSAGE_MAX_LENGTH,
)
from gql_server.plugin_api import SecondFactorMethod, enrollment_input_of

log = logging.getLogger(__name__)

# The argument `phoneNumber` of beginEnrollment/addFactor is this key of `input`.
PHONE_NUMBER = "phoneNumber"


def enrollment_input(
    method: SecondFactorMethod, given: Mapping[str, object] | None, phone_number: str | None
) -> dict[str, object] | InvalidInput | MethodNotAvailable:
    """The input for `method`'s enrollment: `given` with the `phoneNumber` alias merged in, checked against
    the method's schema; InvalidInput (naming the field) when it does not match."""
    merged: dict[str, object] = dict(given or {})
    if phone_number is not None:
        merged.setdefault(PHONE_NUMBER, phone_number)
    schema = enrollment_input_of(method)
    if schema is None:
        # Nothing declared: the method takes nothing but the alias (passed on as Account.phone_number).
        if set(merged) - {PHONE_NUMBER}:
            return InvalidInput(f"{method.display_name} takes no input here: leave `input` out.", "input")
        return merged
    validator = _validator(method.id, _frozen(schema))
    if validator is None:
        return MethodNotAvailable()
    # A bounded cost on the event loop (S37): the input's size first, then a few errors at most.
    if len(json.dumps(merged, default=str)) > ENROLLMENT_INPUT_MAX_BYTES:
        # Named as the caller gave it: the phoneNumber argument, or `input`.
        field = PHONE_NUMBER if not given and phone_number is not None else "input"
        return InvalidInput(f"`{field}` is larger than {ENROLLMENT_INPUT_MAX_BYTES} bytes.", field)
    try:
        errors = list(islice(validator.iter_errors(merged), ENROLLMENT_INPUT_ERRORS_LOOKED_AT))
    except Unresolvable:
        # The schema points elsewhere ($ref to a URL): nothing is fetched, and the method is not offered.
        log.error("method %s declares an enrollment_input with a $ref the core does not fetch", method.id)
        return MethodNotAvailable()
    error = min(errors, key=lambda e: [str(p) for p in e.absolute_path], default=None)
    if error is None:
        return merged
    path = [str(p) for p in error.absolute_path]
    if not path and error.validator == "required" and isinstance(error.validator_value, list):
        missing = [name for name in error.validator_value if name not in merged]
        path = missing[:1]
    message = f"{method.display_name}: {error.message}"[:ENROLLMENT_INPUT_MESSAGE_MAX_LENGTH]
    return InvalidInput(message, ".".join(path) if path else "input")


def _frozen(schema: Mapping[str, object]) -> str:
    # The schema as a cache key: methods are registered once, their schemas do not change.
    return json.dumps(schema, sort_keys=True, default=str)


@lru_cache(maxsize=64)
def _validator(method_id: str, schema: str) -> Draft202012Validator | None:
    loaded = json.loads(schema)
    try:
        Draft202012Validator.check_schema(loaded)
    except SchemaError:
        log.error("method %s declares an enrollment_input that is not a JSON Schema: it is not offered", method_id)
        return None
    # An empty registry: a `$ref` to anything but the schema itself is never fetched (no request leaves the
    # service because a plugin said so, and nothing blocks the event loop).
    return Draft202012Validator(loaded, registry=Registry())
