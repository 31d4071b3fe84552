"""The relying party: who the credentials belong to (RP ID), where browsers may use them (origins), and the
name authenticators show. Read from the environment at every call, so a changed setting applies without
re-creating the method (and tests can set it per test).

A credential is bound to the RP ID it was made for: change GQL_SERVER_WEBAUTHN_RP_ID and every enrolled
passkey stops working. Origins can be added later (a second front end on a subdomain of the RP ID).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# The registrable domain the credentials are scoped to, e.g. "example.com" (no scheme, no port).
RP_ID_VARIABLE = "GQL_SERVER_WEBAUTHN_RP_ID"
# The origins (scheme://host[:port]) the browser may run the ceremonies on, comma-separated.
ORIGIN_VARIABLE = "GQL_SERVER_WEBAUTHN_ORIGIN"
# The service's name as authenticators show it while registering ("Save a passkey for <name>?").
RP_NAME_VARIABLE = "GQL_SERVER_WEBAUTHN_RP_NAME"
# The core's own setting: where the web client is served. Its origin is the default origin.
PUBLIC_URL_VARIABLE = "PUBLIC_URL"
# Browsers treat localhost as a secure context without TLS, and refuse IP addresses as RP IDs: the
# development default (the core's own default PUBLIC_URL is http://127.0.0.1:8000, which no browser accepts).
DEVELOPMENT_ORIGIN = "http://localhost:8000"


class ConfigurationError(RuntimeError):
    """The relying party's settings cannot work (an origin that is no URL, an RP ID that does not cover it)."""


@dataclass(frozen=True)
class RelyingParty:
    """The WebAuthn relying party this service is: its ID, its name and the origins it accepts."""

    rp_id: str
    name: str
    origins: tuple[str, ...]


def origin_of(url: str) -> str:
    """The origin (scheme://host[:port]) of an http(s) URL, lower-cased; ConfigurationError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"not an http(s) origin: {url!r}")
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def covers(rp_id: str, origin: str) -> bool:
    """Whether a credential scoped to `rp_id` may be used on `origin`: the origin's host is the RP ID or
    one of its subdomains (WebAuthn's "registrable domain suffix" rule, without the public-suffix list)."""
    host = urlsplit(origin).hostname or ""
    return host == rp_id or host.endswith("." + rp_id)


def relying_party(default_name: str = "gql_server", environ: Mapping[str, str] | None = None) -> RelyingParty:
    """The relying party from the environment (see the README's "Configure").

    Origins: GQL_SERVER_WEBAUTHN_ORIGIN (comma-separated), else the origin of PUBLIC_URL, else
    http://localhost:8000. RP ID: GQL_SERVER_WEBAUTHN_RP_ID, else the host of the first origin. Name:
    GQL_SERVER_WEBAUTHN_RP_NAME, else `default_name` (the core's issuer, also shown by authenticator apps).
    Raises ConfigurationError when an origin is not an http(s) URL or the RP ID does not cover it.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    configured = [o for o in env.get(ORIGIN_VARIABLE, "").split(",") if o.strip()]
    public_url = env.get(PUBLIC_URL_VARIABLE, "").strip()
    origins = tuple(origin_of(o) for o in (configured or [public_url or DEVELOPMENT_ORIGIN]))
    rp_id = env.get(RP_ID_VARIABLE, "").strip().lower() or (urlsplit(origins[0]).hostname or "")
    for origin in origins:
        if not covers(rp_id, origin):
            raise ConfigurationError(f"{RP_ID_VARIABLE}={rp_id!r} does not cover the origin {origin}")
    name = env.get(RP_NAME_VARIABLE, "").strip() or default_name
    return RelyingParty(rp_id=rp_id, name=name, origins=origins)
