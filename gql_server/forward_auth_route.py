"""`GET /auth/check`: forward auth for the reverse proxy in front of the SaaS's other services.

nginx `auth_request`, Traefik `ForwardAuth` and Caddy `forward_auth` send each request's headers here first
(Cookie and Authorization included) and let the request through only on a 2xx, passing on the headers this
answer names the user with. The rules are `auth/forward_auth.py`'s; this module only reads the request and
writes the answer (README, "Forward auth"; docs/operations.md for the proxies' configuration):

- 200, no body: `X-Auth-User-Id`, `X-Auth-User-Email`, `X-Auth-Assurance`, `X-Auth-Memberships`;
- 401: no usable session (none, unknown, ended, expired, or restricted by R10);
- 403: a usable session the route's requirements refuse (assurance, membership, level);
- 400: the route's requirements (query parameters) are wrong, a mistake in the proxy's configuration.

nginx's `auth_request` understands 2xx, 401 and 403 only (anything else becomes a 500 of its own), so a
refusal is always one of those two: 401 when signing in (again) is what helps, 403 when it would not. The
refusals carry the reason in `X-Auth-Error` (which a proxy can read for its error page) and a small JSON body.

Every method is answered alike: nginx's subrequest keeps the method of the request it checks.

The answer never sets a cookie and never extends a session beyond what `resolve_session` does for every
request; nothing may cache it (`Cache-Control: no-store`).
"""

from __future__ import annotations

from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gql_server.api.context import request_session
from gql_server.auth.forward_auth import CheckOutcome, Identity, InvalidRequirement, Verdict, check, parse_requirements
from gql_server.request_log import current_request
from gql_server.services import Services

HEADER_USER_ID = "X-Auth-User-Id"
HEADER_USER_EMAIL = "X-Auth-User-Email"
HEADER_ASSURANCE = "X-Auth-Assurance"
HEADER_MEMBERSHIPS = "X-Auth-Memberships"
HEADER_ERROR = "X-Auth-Error"
# The check's answer does not depend on the method. Traefik and Caddy ask with GET; nginx's `auth_request`
# subrequest keeps the method of the request it checks (a POST to the protected service asks with POST).
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# RFC 5322 atext besides letters, digits and `_.-~` (which `quote` keeps anyway), and the `@`: an ASCII
# address reads as it is. `%` is not among them, so a decoded value is always the stored address.
_EMAIL_SAFE = "@!#$&'*+/=?^`{|}~"

STATUS = {
    Verdict.AUTHORIZED: 200,
    Verdict.UNAUTHENTICATED: 401,
    Verdict.CONVERSION_REQUIRED: 401,
    Verdict.TWO_FACTOR_REQUIRED: 403,
    Verdict.NOT_A_MEMBER: 403,
    Verdict.LEVEL_TOO_LOW: 403,
}
INVALID_PARAMETER = "invalid_parameter"
_NO_STORE = {"Cache-Control": "no-store"}


async def auth_check(request: Request) -> Response:
    """The forward-auth answer for the session the request carries and the route's requirements."""
    services: Services = request.app.state.services
    required = parse_requirements(request.query_params.multi_items())
    if isinstance(required, InvalidRequirement):
        body = {"error": INVALID_PARAMETER, "parameter": required.parameter, "message": required.message}
        return _answer(request, 400, body, {HEADER_ERROR: INVALID_PARAMETER})
    outcome = await check(await request_session(request, services), services.policy, required)
    record = current_request()
    if record is not None:
        record.outcome = outcome.verdict.value  # the access line says why a request was refused
    return _outcome_answer(request, outcome)


def identity_headers(identity: Identity) -> dict[str, str]:
    """The headers naming an authorised session's user (README, "Forward auth", documents their format)."""
    return {
        HEADER_USER_ID: str(identity.user_id),
        HEADER_USER_EMAIL: quote(identity.email, safe=_EMAIL_SAFE),
        HEADER_ASSURANCE: identity.assurance.value,
        HEADER_MEMBERSHIPS: ",".join(f"{customer}:{level.value}" for customer, level in identity.memberships),
    }


def _outcome_answer(request: Request, outcome: CheckOutcome) -> Response:
    status = STATUS[outcome.verdict]
    if outcome.identity is not None:
        return Response(status_code=status, headers={**_NO_STORE, **identity_headers(outcome.identity)})
    headers = {HEADER_ERROR: outcome.verdict.value}
    if status == 401:
        # RFC 9110 (11.6.1): a 401 names a scheme the client can authenticate with.
        headers["WWW-Authenticate"] = "Bearer"
    return _answer(request, status, {"error": outcome.verdict.value}, headers)


def _answer(request: Request, status: int, body: dict[str, str], headers: dict[str, str] | None = None) -> Response:
    """A refusal: its JSON body, none for HEAD (the same status and headers)."""
    content = orjson.dumps(body) if request.method != "HEAD" else b""
    return Response(
        content, status_code=status, media_type="application/json", headers={**_NO_STORE, **(headers or {})}
    )
