"""SecondFactorMethod: how the installed plugins present themselves to frontends."""

from __future__ import annotations

from typing import cast

import strawberry
from strawberry.scalars import JSON

from gql_server.limits import MAX_CODE_LENGTH
from gql_server.plugin_api import (
    AuthenticatorKind,
    Prompt,
    SecondFactorMethod,
    capabilities_of,
    enrollment_input_of,
    ui_of,
)

strawberry.enum(AuthenticatorKind, name="AuthenticatorKind", description="What a factor is (NIST SP 800-63B).")
strawberry.enum(
    Prompt,
    name="MethodPrompt",
    description=(
        "CODE: a field the user types a code into. BROWSER_API: no field; the client runs the browser API "
        "the method's capabilities name with the challenge's options and sends the API's answer (JSON text) as "
        "the code."
    ),
)


@strawberry.type(name="MethodStrings")
class MethodStringsType:
    """What a client says about a method in one language, shipped by the method's plugin. Plain text."""

    language: str = strawberry.field(description='A language code, e.g. "en", "fi".')
    name: str = strawberry.field(description="The method's name in lists of methods.")
    about: str = strawberry.field(description="A sentence or two to choose the method by; may be empty.")
    label: str = strawberry.field(
        description="The code field's label, or the button's that starts a browser prompt; may be empty."
    )
    hint: str = strawberry.field(description="Help under the field: where the code comes from; may be empty.")


@strawberry.type(name="MethodUI")
class MethodUIType:
    """How a client presents a method (issue 16): render from this, never from the method's id. Strings
    fall back to "en", then to the method's displayName."""

    prompt: Prompt
    sends_codes: bool = strawberry.field(
        description="The client offers to send a code (sendLoginCode, sendReauthenticationCode)."
    )
    input_mode: str = strawberry.field(description='The keyboard a code field wants: "numeric" or "text".')
    min_length: int
    max_length: int
    pattern: str | None = strawberry.field(
        description="A regular expression a whole code matches once spaces are removed (HTML `pattern`)."
    )
    autocomplete: str = strawberry.field(description='The field\'s HTML autocomplete token, e.g. "one-time-code".')
    strings: list[MethodStringsType] = strawberry.field(description="The method's strings, one entry per language.")


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
    ui: MethodUIType = strawberry.field(description="How clients present the method, with its own strings.")
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
            ui=_ui(method),
            enrollment_input=cast(JSON, enrollment_input_of(method)),
        )

    @classmethod
    def not_installed(cls, method_id: str) -> SecondFactorMethodType:
        """A factor's method whose plugin is no longer installed: it still shows, as such."""
        name = f"{method_id} (not installed)"
        return cls(
            id=method_id,
            display_name=name,
            channel="unknown",
            phishing_resistant=False,
            enrollable=False,
            capabilities=MethodCapabilitiesType(
                kind=AuthenticatorKind.POSSESSION,
                phishing_resistant=False,
                hardware_bound=False,
                delivers_codes=False,
                browser_api=None,
            ),
            ui=MethodUIType(
                prompt=Prompt.CODE,
                sends_codes=False,
                input_mode="text",
                min_length=1,
                max_length=MAX_CODE_LENGTH,
                pattern=None,
                autocomplete="off",
                strings=[MethodStringsType(language="en", name=name, about="", label="", hint="")],
            ),
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


def _ui(method: SecondFactorMethod) -> MethodUIType:
    declared = ui_of(method)
    strings = dict(declared.strings) or {}
    return MethodUIType(
        prompt=declared.prompt,
        sends_codes=capabilities_of(method).delivers_codes,
        input_mode=declared.code.input_mode,
        min_length=declared.code.min_length,
        max_length=declared.code.max_length,
        pattern=declared.code.pattern,
        autocomplete=declared.code.autocomplete,
        strings=[
            MethodStringsType(language=language, name=text.name, about=text.about, label=text.label, hint=text.hint)
            for language, text in sorted(strings.items())
        ],
    )
