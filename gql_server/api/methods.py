"""SecondFactorMethod: how the installed plugins present themselves to frontends."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.scalars import JSON

from gql_server.plugin_api import AuthenticatorKind, SecondFactorMethod, capabilities_of, enrollment_input_of

strawberry.enum(AuthenticatorKind, name="AuthenticatorKind", description="What a factor is (NIST SP 800-63B).")


@strawberry.type(name="MethodCapabilities")
class MethodCapabilitiesType:
    """What a method is, for policies and clients to read instead of its id (issue 16)."""

    kind: AuthenticatorKind = strawberry.field(description="knowledge, possession or inherence.")
    phishing_resistant: bool = strawberry.field(description="The response is bound to this site's origin.")
    hardware_bound: bool = strawberry.field(description="The secret cannot leave a piece of hardware.")
    delivers_codes: bool = strawberry.field(
        description="The service sends a code for it (sendLoginCode, sendReauthenticationCode)."
    )
    browser_api: str | None = strawberry.field(description='A browser API a client needs, e.g. "webauthn".')


@strawberry.type(name="SecondFactorMethod")
class SecondFactorMethodType:
    """A second-factor method installed on this server."""

    id: str = strawberry.field(description='Stable id, e.g. "totp", "email_code", "recovery_code".')
    display_name: str
    channel: str = strawberry.field(
        description='How the code reaches the user, e.g. "authenticator_app", "email", "sms", "lookup_secret".'
    )
    phishing_resistant: bool
    enrollable: bool = strawberry.field(
        description="False for methods that cannot be enrolled on their own (recovery_code)."
    )
    capabilities: MethodCapabilitiesType
    enrollment_input: JSON | None = strawberry.field(
        default=None,
        description=(
            "A JSON Schema (an object schema) of what beginEnrollment's `input` holds for this method; null "
            "when it takes none (`phoneNumber` stays the alias of input.phoneNumber)."
        ),
    )

    @classmethod
    def from_method(cls, method: SecondFactorMethod) -> SecondFactorMethodType:
        """Wrap a plugin's method object."""
        return cls(
            id=method.id,
            display_name=method.display_name,
            channel=method.channel,
            phishing_resistant=method.phishing_resistant,
            enrollable=method.enrollable,
            capabilities=_capabilities(method),
            enrollment_input=cast(JSON, enrollment_input_of(method)),
        )


def _capabilities(method: SecondFactorMethod) -> MethodCapabilitiesType:
    declared = capabilities_of(method)
    return MethodCapabilitiesType(
        kind=declared.kind,
        phishing_resistant=declared.phishing_resistant,
        hardware_bound=declared.hardware_bound,
        delivers_codes=declared.delivers_codes,
        browser_api=declared.browser_api,
    )
