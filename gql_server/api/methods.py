"""SecondFactorMethod: how the installed plugins present themselves to frontends."""

from __future__ import annotations

import strawberry

from gql_server.plugin_api import SecondFactorMethod


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

    @classmethod
    def from_method(cls, method: SecondFactorMethod) -> SecondFactorMethodType:
        """Wrap a plugin's method object."""
        return cls(
            id=method.id,
            display_name=method.display_name,
            channel=method.channel,
            phishing_resistant=method.phishing_resistant,
            enrollable=method.enrollable,
        )
