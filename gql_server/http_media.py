"""GraphQL over HTTP: the media type /graphql answers in, chosen from the request's Accept header.

Two media types (GraphQL-over-HTTP, "Media Types" and "Body"):

- `application/graphql-response+json`, the spec's own. A request that GraphQL refuses before executing it
  (its document does not parse or validate, its variables cannot be coerced, its operation cannot be
  chosen) is a request error: the answer is 400 with no `data` entry. Everything that was executed is 200
  with `data`, even when `data` is null. The status alone tells a proxy, a log or a metric what happened.
- `application/json`, which older clients know: every GraphQL answer is 200 with `data` (null when refused),
  as this service has always answered. No Accept header, `*/*` and `application/*` get it too (the spec's
  legacy default, which the audit suite checks).

The highest `q` wins (RFC 9110, 12.5.1), each media type weighted by the most specific range that names it.
Between equal weights a type named outright beats one reached through a wildcard; between two named outright
the spec's own type wins, and between two wildcards `application/json`. An Accept header that accepts
neither (`text/html` alone, both at `q=0`) is answered 406 (`negotiate` gives None), except where GraphiQL
is the answer; one with nothing readable in it counts as none. Charsets other than UTF-8 are not offered:
JSON is UTF-8 (RFC 8259).

This is the specification as the graphql-http audit suite checks it (tests/test_graphql_over_http.py): 400
for every request error, 200 for every executed result, application/json unchanged. Its later working
drafts propose 422 for validation and variable errors and 294 for data with errors, which the suite does
not check (graphql-http 1.23.1, pinned in tests/graphql_http/package-lock.json).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Literal

from graphql import GraphQLError
from starlette.requests import Request

from gql_server.limits import ACCEPT_MAX_LENGTH

GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
JSON: Final = "application/json"
MediaType = Literal["application/graphql-response+json", "application/json"]

# The Content-Type of each: application/json exactly as before; the spec's type with its encoding (Body: SHOULD).
CONTENT_TYPES: dict[MediaType, str] = {
    GRAPHQL_RESPONSE: "application/graphql-response+json; charset=utf-8",
    JSON: "application/json",
}
NOT_ACCEPTABLE = f"/graphql answers {GRAPHQL_RESPONSE} or {JSON}: the Accept header allows neither."
# Where a request keeps its negotiated type (request.state), so that the header is read once per request.
_STATE_KEY = "graphql_media_type"
_UTF8 = ("utf-8", "utf8")
_CACHED_LENGTH = 200


def negotiate(accept: str | None) -> MediaType | None:
    """The media type to answer a request with this Accept header; None when it accepts neither (406) or
    is too long to be read at all (`accept_too_long`: 431)."""
    if accept is None or accept.strip() in ("", "*/*", JSON):
        return JSON  # nearly every request: no Accept, a browser's or a legacy client's
    if len(accept) > ACCEPT_MAX_LENGTH:
        return None
    # A client sends the same header every time: reading it costs ~11 us, a cached answer ~0.6 us. Only
    # short ones are kept, so that the cache stays small whatever clients send.
    return _negotiated(accept) if len(accept) <= _CACHED_LENGTH else _negotiate(accept)


def _negotiate(accept: str) -> MediaType | None:
    """`negotiate`, uncached."""
    ranges = _media_ranges(accept)
    if not ranges:
        return JSON  # nothing readable in it: as if there were no Accept header
    graphql = _weight(ranges, "application", "graphql-response+json")
    json = _weight(ranges, "application", "json")
    # (q, named outright, tie-break): named outright, the spec's type; both through wildcards, the legacy one.
    graphql_rank = (graphql[0], graphql[1], graphql[1])
    json_rank = (json[0], json[1], not json[1])
    if max(graphql[0], json[0]) <= 0:
        return None
    return GRAPHQL_RESPONSE if graphql_rank > json_rank else JSON


_negotiated = lru_cache(maxsize=256)(_negotiate)


def accept_too_long(request: Request) -> bool:
    """Whether the request's Accept header (its fields together) is longer than S27's ACCEPT_MAX_LENGTH: it is
    then refused with 431 unread, as reading it would cost the event loop time in proportion to its length."""
    return sum(len(value) + 2 for value in request.headers.getlist("accept")) > ACCEPT_MAX_LENGTH + 2


ACCEPT_TOO_LONG = f"The Accept header is longer than {ACCEPT_MAX_LENGTH} characters."


def response_media_type(request: Request) -> MediaType | None:
    """`negotiate` for this request's Accept header, worked out once per request."""
    state = request.scope.setdefault("state", {})
    if _STATE_KEY not in state:
        # Several Accept fields are one list (RFC 9110, 5.3).
        accept = request.headers.getlist("accept")
        state[_STATE_KEY] = negotiate(", ".join(accept) if accept else None)
    chosen: MediaType | None = state[_STATE_KEY]
    return chosen


def is_request_error(data: object, errors: Sequence[GraphQLError] | None) -> bool:
    """Whether a GraphQL result is a request error: refused before execution, so it has no data.

    graphql-core answers both a refused request and an execution whose root was nulled by a field error
    with `data` None. They differ in their errors: a field error always has the `path` of its field
    (GraphQL spec, "Errors"); parse, validation, variable and operation errors arise before any field
    and have none.
    """
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    """(type, subtype, q) of each media range of an Accept header, in lower case. A range that cannot be read
    (no `type/subtype`, a q that is no number from 0 to 1) is left out; one whose charset is not UTF-8 gets
    q 0, as nothing of ours can be sent in it."""
    ranges = []
    for element in accept.split(","):
        media_range, *parameters = (part.strip() for part in element.split(";"))
        kind, slash, subtype = media_range.lower().partition("/")
        if not slash or not kind or not subtype:
            continue
        q: float | None = 1.0
        utf8 = True
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"').lower()
            if name == "q":
                q = _qvalue(value)
            elif name == "charset":
                utf8 = value in _UTF8
        if q is not None:
            ranges.append((kind, subtype, q if utf8 else 0.0))
    return ranges


def _qvalue(text: str) -> float | None:
    """A weight (RFC 9110, 12.4.2: 0 to 1), or None when `text` is none."""
    try:
        q = float(text)
    except ValueError:
        return None
    return q if 0 <= q <= 1 else None


def _weight(ranges: list[tuple[str, str, float]], kind: str, subtype: str) -> tuple[float, bool]:
    """(q, named outright) of one media type: the q of the most specific range matching it (the highest of
    several equally specific ones); q 0 when none does."""
    best: tuple[int, float] = (-1, 0.0)  # (specificity: 0 */*, 1 type/*, 2 type/subtype; q)
    for range_kind, range_subtype, q in ranges:
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif (range_kind, range_subtype) == (kind, "*"):
            specificity = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        best = max(best, (specificity, q))
    return best[1], best[0] == 2
