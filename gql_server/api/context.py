"""The per-request context: the services, the request/response, and the caller's session."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

from gql_server.auth.devices import NewDevice
from gql_server.models import Session
from gql_server.services import Services
from gql_server.sessions import NewSession, resolve_session

SESSION_COOKIE = "gql_session"
# R18: a remembered browser; separate from the session, which ends at logout while this stays.
DEVICE_COOKIE = "gql_device"


@dataclass
class Context:
    """Built once per request in `get_context`; resolvers reach services and the session here."""

    request: Request
    response: Response
    services: Services
    _session: Session | None = None
    _session_loaded: bool = field(default=False)

    async def session(self) -> Session | None:
        """The caller's live session (Bearer header first, then the cookie), looked up once."""
        if not self._session_loaded:
            self._session = await request_session(self.request, self.services)
            self._session_loaded = True
        return self._session

    def forget_session(self) -> None:
        """After logout: the rest of this request acts as anonymous."""
        self._session, self._session_loaded = None, True

    @property
    def client_ip(self) -> str | None:
        """The peer address, for the audit trail."""
        return self.request.client.host if self.request.client else None

    @property
    def user_agent(self) -> str | None:
        """The client's User-Agent header, kept with a new session so its user can tell it apart (R17)."""
        return self.request.headers.get("user-agent") or None

    @property
    def device_token(self) -> str | None:
        """The browser's remembered-device cookie (R18), passed to the services as it came."""
        return self.request.cookies.get(DEVICE_COOKIE) or None

    def remember_device(self, new: NewDevice) -> None:
        """The browser keeps its remembered-device token (R18), as long as the device may be used at most.

        Like the session cookie (S19): HttpOnly, SameSite=Lax, path /, Secure when PUBLIC_URL is https.
        """
        settings = self.services.settings
        self.response.set_cookie(
            DEVICE_COOKIE,
            new.token,
            max_age=int(new.lifetime.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
        )

    def clear_device_cookie(self) -> None:
        """Remove the remembered-device cookie from the browser (the device itself is forgotten server-side)."""
        self.response.delete_cookie(
            DEVICE_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.services.settings.secure_cookies,
        )

    def sign_in(self, new: NewSession) -> None:
        """A session was just created: the rest of this request acts for it, and the browser keeps it.

        The cookie (S19): HttpOnly, SameSite=Lax, path /, Secure when PUBLIC_URL is https.
        """
        self._session, self._session_loaded = new.session, True
        settings = self.services.settings
        self.response.set_cookie(
            SESSION_COOKIE,
            new.token,
            max_age=int(settings.session_absolute.total_seconds()),
            path="/",
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
        )

    def clear_session_cookie(self) -> None:
        """Remove the cookie from the browser (the session itself is ended server-side)."""
        self.response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.services.settings.secure_cookies,
        )


Info = StrawberryInfo[Context, None]


async def request_session(request: Request, services: Services) -> Session | None:
    """The live session a request carries: its `Authorization: Bearer` token first, then the session cookie.

    The one way a request is tied to a session, for GraphQL (`Context.session`) and for the forward-auth
    check (`forward_auth_route.py`) alike."""
    token = _bearer(request) or request.cookies.get(SESSION_COOKIE)
    return await resolve_session(token, services.sessions) if token else None


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
