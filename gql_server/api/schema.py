"""The schema, assembled in one place: Query, Mutation and the extensions that guard them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaskErrors, SchemaExtension, max_aliases, query_depth_limiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gql_server.api import account as account_api
from gql_server.api import codes as codes_api
from gql_server.api import conversion as conversion_api
from gql_server.api import customer_settings, customers, mutations, users
from gql_server.api import enrollment as enrollment_api
from gql_server.api import login as login_api
from gql_server.api import members as members_api
from gql_server.api import my_factors as my_factors_api
from gql_server.api import profile as profile_api
from gql_server.api import recovery as recovery_api
from gql_server.api import step_up as step_up_api
from gql_server.api.context import Info
from gql_server.api.documents import CheckedDocuments
from gql_server.api.errors import (
    PublicError,
)
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.observe import ObserveOperations, observe_root_fields
from gql_server.db import is_database_unavailable
from gql_server.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from gql_server.mail import MailNotDelivered

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The service cannot reach its database for a moment. Retry the request."
MAIL_RETRY = "The email could not be sent just now; nothing was changed. Retry in a moment."
MAIL_REFUSED = "The mail server refused this address; nothing was changed. Check the address."

# S7: aliases cannot multiply attempts; depth and size bound the work a request asks for (gql_server/limits.py).
# The alias and depth rules are built once: Strawberry's MaxAliasesLimiter and QueryDepthLimiter make a
# new rule class per instance, i.e. per request, which would defeat the validation cache.
S7_RULES: list[type[ASTValidationRule]] = [
    max_aliases.create_validator(MAX_ALIASES),
    query_depth_limiter.create_validator(MAX_DEPTH, should_ignore=None),
]


@strawberry.type
class Query:
    """Reads."""

    @strawberry.field(description="The signed-in user, or null without a valid session.")
    async def viewer(self, info: Info) -> users.Viewer | None:
        session = await info.context.session()
        if session is None:
            return None
        return users.Viewer(
            user=users.UserType.from_model(session.user),
            session=users.SessionType.from_model(session, info),
            model=session,
        )

    @strawberry.field(
        description="A customer the caller belongs to; null otherwise. Needs a session that satisfies the policy."
    )
    async def customer(self, info: Info, id: strawberry.ID) -> customers.CustomerType | None:
        found = await info.context.services.customers.visible(await info.context.session(), str(id))
        return customers.CustomerType.from_model(found) if found else None

    @strawberry.field(description="Second-factor methods installed on this server: built-in and third-party plugins.")
    def second_factor_methods(self, info: Info) -> list[SecondFactorMethodType]:
        methods = info.context.services.methods.values()
        return [SecondFactorMethodType.from_method(m) for m in methods]

    invitation: conversion_api.Invitation | None = strawberry.field(
        resolver=conversion_api.invitation,
        description="What an invitation link allows; null when the token is unknown, used or expired.",
    )


@strawberry.type
class Mutation:
    """Writes. Only by POST (S21)."""

    login: login_api.LoginResult = strawberry.mutation(resolver=mutations.login, description="Step one of every login.")
    send_login_code: codes_api.SendLoginCodeResult = strawberry.mutation(
        resolver=mutations.send_login_code,
        description="For methods that deliver a code (email_code, sms, ...): send one for this challenge.",
    )
    begin_second_factor: codes_api.BeginSecondFactorResult = strawberry.mutation(
        resolver=mutations.begin_second_factor,
        description=(
            "For challenge-response methods (passkeys, security keys): the options the client answers; send "
            "its response as JSON text in verifySecondFactor's `code`. A new one replaces the last."
        ),
    )
    verify_second_factor: login_api.LoginResult = strawberry.mutation(
        resolver=mutations.verify_second_factor,
        description="R18: with rememberDevice the browser gets a device cookie that skips the second factor later.",
    )
    logout: bool = strawberry.mutation(
        resolver=mutations.logout,
        description="Ends the current session. True when a session was ended.",
    )
    request_conversion: conversion_api.RequestConversionResult = strawberry.mutation(
        resolver=mutations.request_conversion,
        description="From ConversionRequired or ConversionPending: send (or re-send) the invitation email.",
    )
    start_conversion: conversion_api.RequestConversionResult = strawberry.mutation(
        resolver=mutations.start_conversion,
        description="Voluntary conversion by a signed-in password user (rule R8).",
    )
    begin_enrollment: enrollment_api.BeginEnrollmentResult = strawberry.mutation(resolver=mutations.begin_enrollment)
    confirm_enrollment: enrollment_api.ConfirmEnrollmentResult = strawberry.mutation(
        resolver=mutations.confirm_enrollment
    )

    update_customer_settings: customer_settings.UpdateCustomerSettingsResult = strawberry.mutation(
        resolver=mutations.update_customer_settings
    )

    report_unrecognized_change: recovery_api.ReportUnrecognizedChangeResult = strawberry.mutation(
        resolver=mutations.report_unrecognized_change,
        description='R13: the link in a notice sent to the previous address ("this wasn\'t me").',
    )
    request_password_reset: recovery_api.RequestPasswordResetResult = strawberry.mutation(
        resolver=mutations.request_password_reset,
        description="R16: the same answer for any address; a single-use link (1 hour) only to an account's own.",
    )
    reset_password: recovery_api.ResetPasswordResult = strawberry.mutation(
        resolver=mutations.reset_password,
        description="R16: a new password with the emailed link; a two-factor user still answers the second factor.",
    )
    end_session: bool = strawberry.mutation(
        resolver=mutations.end_session,
        description="R17: end one of the viewer's sessions; false for an id that is not one of their live sessions.",
    )
    forget_device: bool = strawberry.mutation(
        resolver=mutations.forget_device,
        description="R18: forget one of the viewer's remembered browsers; false for an id that is not one of theirs.",
    )
    end_other_sessions: int = strawberry.mutation(
        resolver=mutations.end_other_sessions, description="R17: the number of sessions ended."
    )
    update_profile: profile_api.UpdateProfileResult = strawberry.mutation(
        resolver=mutations.update_profile,
        description='R13: the caller\'s language ("fi" or "en"), for their emails and the web client.',
    )
    reauthenticate: step_up_api.ReauthenticateResult = strawberry.mutation(
        resolver=mutations.reauthenticate,
        description="R14: verify a second factor again in the current session (step-up).",
    )
    send_reauthentication_code: codes_api.SendLoginCodeResult = strawberry.mutation(
        resolver=mutations.send_reauthentication_code,
        description="R14: for methods that deliver a code: send one for reauthenticate.",
    )
    begin_reauthentication: codes_api.BeginSecondFactorResult = strawberry.mutation(
        resolver=mutations.begin_reauthentication,
        description=(
            "R14 for challenge-response methods (passkeys): the options the client answers; send its response "
            "as JSON text in reauthenticate's `code`."
        ),
    )
    regenerate_recovery_codes: my_factors_api.RegenerateRecoveryCodesResult = strawberry.mutation(
        resolver=mutations.regenerate_recovery_codes,
        description="R15, S11: replaces the whole set; shown once. Needs a recent second factor (R14).",
    )
    change_password: account_api.ChangePasswordResult = strawberry.mutation(
        resolver=mutations.change_password,
        description="R16: needs the current password (and R14 for two-factor users); ends the other sessions.",
    )
    request_email_change: account_api.RequestEmailChangeResult = strawberry.mutation(
        resolver=mutations.request_email_change,
        description="R13: the new address gets a link; the old one a notice. Needs a recent second factor (R14).",
    )
    confirm_email_change: account_api.ConfirmEmailChangeResult = strawberry.mutation(
        resolver=mutations.confirm_email_change,
        description="R13: the link mailed to the new address; needs no session.",
    )
    add_factor: enrollment_api.BeginEnrollmentResult = strawberry.mutation(
        resolver=mutations.add_factor,
        description="R15: add another factor, as an invitation's enrollment does (R5); confirm it with confirmFactor.",
    )
    confirm_factor: my_factors_api.ConfirmFactorResult = strawberry.mutation(
        resolver=mutations.confirm_factor,
        description="R15, S14: a code from the new factor makes it active. Needs a recent second factor (R14).",
    )
    rename_factor: my_factors_api.FactorResult = strawberry.mutation(
        resolver=mutations.rename_factor,
        description="R15: another name for one of your factors. Needs a recent second factor (R14).",
    )
    remove_factor: my_factors_api.FactorResult = strawberry.mutation(
        resolver=mutations.remove_factor,
        description="R15, R9: never the last factor; the other sessions end (S18). Needs a recent second factor (R14).",
    )
    invite_user: members_api.InviteUserResult = strawberry.mutation(
        resolver=mutations.invite_user,
        description=(
            "R19: a new address gets a two-factor account invitation (or, with loginMethod PASSWORD while the "
            "customer does not enforce, a link to choose a password); an existing account a JOIN_CUSTOMER one."
        ),
    )
    resend_invitation: members_api.ResendInvitationResult = strawberry.mutation(
        resolver=mutations.resend_invitation,
        description="R19: re-send a PENDING member's invitation to the address its conversion started with.",
    )
    remove_member: members_api.MemberResult = strawberry.mutation(
        resolver=mutations.remove_member,
        description="R19: remove a member, or withdraw an invitation to join; never the last CUSTOMER-level one.",
    )
    set_member_level: members_api.MemberResult = strawberry.mutation(
        resolver=mutations.set_member_level,
        description="R19: change a member's level; never leave the customer without a CUSTOMER-level member.",
    )
    send_password_reset: members_api.SendPasswordResetResult = strawberry.mutation(
        resolver=mutations.send_password_reset,
        description="R19: PASSWORD members only; a two-factor user's password is theirs alone (R9).",
    )
    accept_invitation: members_api.AcceptInvitationResult = strawberry.mutation(
        resolver=mutations.accept_invitation,
        description="R19, R20: LINK_ACCOUNT and JOIN_CUSTOMER invitations, from a session of the account they name.",
    )


def _should_mask(error: GraphQLError) -> bool:
    # Syntax, validation and variable errors explain the caller's mistake (they are GraphQLErrors
    # or carry none); anything else raised by our code is masked unless meant for the caller (S22).
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, PublicError))


class Schema(strawberry.Schema):
    """Strawberry's schema, logging only unexpected errors, and without suggestions when asked (S28).

    Caller mistakes (syntax, validation, variable coercion) are answered, not logged: their
    messages can echo the input, and the input may be a password or a code (S25).
    """

    def __init__(self, *, hide_suggestions: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.hide_suggestions = hide_suggestions

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        """Strawberry's arguments for graphql-core's execute, plus `hide_suggestions` (S28).

        Variables are coerced there: a misspelt input field in `variables` would otherwise be answered
        "Did you mean ...?" with the schema's names, even in production.
        """
        arguments = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        arguments["hide_suggestions"] = self.hide_suggestions
        return arguments

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log each unexpected error with its traceback; expected ones are the caller's business."""
        operation = execution_context.operation_name if execution_context else None
        for error in errors:
            if isinstance(error.original_error, MailNotDelivered):
                # An outage of the mail server, not a bug: one line with the cause, no traceback.
                log.warning(
                    "mail not delivered at %s: %s", ".".join(str(p) for p in error.path or ()), error.original_error
                )
            elif _should_mask(error):
                log.error(
                    "unexpected error at %s in operation %s",
                    ".".join(str(p) for p in error.path or ()),
                    operation or "(anonymous)",
                    exc_info=error.original_error,
                )


class MaskUnexpectedErrors(MaskErrors):
    """MaskErrors, except that a database outage says so: the request may simply be retried."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        """The generic mask, or a retryable SERVICE_UNAVAILABLE when the database was out of reach."""
        if isinstance(error.original_error, MailNotDelivered):
            retryable = error.original_error.retryable
            return GraphQLError(
                message=MAIL_RETRY if retryable else MAIL_REFUSED,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "MAIL_NOT_DELIVERED", "retryable": retryable},
            )
        if is_database_unavailable(error.original_error):
            return GraphQLError(
                message=DATABASE_UNAVAILABLE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "SERVICE_UNAVAILABLE", "retryable": True},
            )
        return super().anonymise_error(error)


@cache
def build_schema(*, introspection: bool = True, field_suggestions: bool = True) -> strawberry.Schema:
    """The schema with its guards; production turns introspection and suggestions off (S22, S28).

    Without `field_suggestions` no error suggests a name of the schema ("Did you mean ...?"): not for
    fields, types, arguments, directive arguments, input fields or enum values, whether the mistake is
    in the document (validation) or in the variables (coercion).

    Made once per process for each pair of arguments: it depends on nothing else, and its extensions are
    factories (below), so apps built again in one process (the tests, ~1,600 of them) share it.
    """
    # Factories, not instances: each request gets its own extension objects (no shared state);
    # the parser and validation caches still share one module-level LRU per maxsize.
    rules = S7_RULES if introspection else [*S7_RULES, NoSchemaIntrospectionCustomRule]
    hide_suggestions = not field_suggestions
    extensions: list[Callable[[], SchemaExtension]] = [
        ObserveOperations,
        partial(CheckedDocuments, max_tokens=MAX_TOKENS, rules=rules, hide_suggestions=hide_suggestions),
        partial(MaskUnexpectedErrors, should_mask_error=_should_mask),
    ]
    observe_root_fields(Query, Mutation)
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=hide_suggestions),
        hide_suggestions=hide_suggestions,
    )
