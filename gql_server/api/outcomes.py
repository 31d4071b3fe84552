"""The one registry from the auth services' outcomes to the GraphQL types that answer them.

A service answers plain data (`auth/results.py`), one class per outcome, named like its GraphQL type. Each
class has ONE translation here (`REGISTRY`): the GraphQL type of the same name and the function building it.
Each mutation's answer is declared once, as `Answers` pairing its GraphQL union (`api/<area>.py`) with the
service's union of the same name (`auth/results.py`). Building it checks that every outcome the service may
return has a translation whose type is a member of the GraphQL union; mypy checks that the service returns
only members of its union. So a missing or misplaced translation stops the import, never a request.

Adding an outcome: its class in `auth/results.py` and its service's union there, its GraphQL type in the
mutation's union, and one `translation` in `REGISTRY` below.
"""

from __future__ import annotations

from typing import Any, cast

from strawberry.scalars import JSON

from gql_server.api import (
    account,
    codes,
    conversion,
    customer_settings,
    enrollment,
    errors,
    login,
    members,
    my_factors,
    profile,
    recovery,
    step_up,
)
from gql_server.api.context import Info
from gql_server.api.customers import CustomerType
from gql_server.api.methods import SecondFactorMethodType
from gql_server.api.registry import Answers, Registry, translation
from gql_server.api.users import EnrolledFactorType, SessionType, UserType
from gql_server.auth import results


def _login_success(outcome: results.LoginSuccess, info: Info) -> login.LoginSuccess:
    # A new session is also the browser's cookie (S19), and the rest of this request acts for it.
    info.context.sign_in(outcome.session)
    if outcome.device is not None:
        info.context.remember_device(outcome.device)
    return login.LoginSuccess(
        token=outcome.session.token,
        session=SessionType.from_model(outcome.session.session, info),
        user=UserType.from_model(outcome.user),
    )


def _second_factor_required(outcome: results.SecondFactorRequired, _: Info) -> login.SecondFactorRequired:
    return login.SecondFactorRequired(
        challenge=outcome.challenge.token,
        expires_at=outcome.challenge.expires_at,
        methods=[SecondFactorMethodType.from_method(m) for m in outcome.methods],
        remember_device_days=outcome.remember_device_days,
    )


def _enrollment_started(outcome: results.EnrollmentStarted, _: Info) -> enrollment.EnrollmentStarted:
    return enrollment.EnrollmentStarted(
        enrollment=outcome.enrollment,
        method=SecondFactorMethodType.from_method(outcome.method),
        expires_at=outcome.expires_at,
        secret=outcome.secret,
        provisioning_uri=outcome.provisioning_uri,
        qr_code_svg=outcome.qr_code_svg,
        sent_to=outcome.sent_to,
        code_expires_at=outcome.code_expires_at,
        options=cast(JSON, outcome.options),
    )


def _enrollment_completed(outcome: results.EnrollmentCompleted, info: Info) -> enrollment.EnrollmentCompleted:
    info.context.sign_in(outcome.session)
    return enrollment.EnrollmentCompleted(
        token=outcome.session.token,
        session=SessionType.from_model(outcome.session.session, info),
        user=UserType.from_model(outcome.user),
        recovery_codes=outcome.recovery_codes,
    )


def _too_many_attempts(outcome: results.TooManyAttempts, _: Info) -> errors.TooManyAttempts:
    message = errors.BUSY if outcome.reason is results.Wait.BUSY else errors.THROTTLED
    return errors.TooManyAttempts(message=message, retry_after_seconds=outcome.retry_after_seconds)


def _method_not_available(outcome: results.MethodNotAvailable, _: Info) -> errors.MethodNotAvailable:
    message = errors.RECOVERY_CODE_ONLY if outcome.recovery_only else errors.METHOD_UNAVAILABLE
    if outcome.phishing_resistant_only:
        message = errors.PHISHING_RESISTANT_ONLY
    return errors.MethodNotAvailable(message=message)


def _reauthentication_required(outcome: results.ReauthenticationRequired, _: Info) -> errors.ReauthenticationRequired:
    message = errors.STEP_UP if outcome.methods else errors.STEP_UP_NO_FACTOR
    return errors.ReauthenticationRequired(message=message, methods=outcome.methods)


def _factor_added(outcome: results.FactorAdded, info: Info) -> my_factors.FactorAdded:
    method = info.context.services.methods.get(outcome.factor.method)
    return my_factors.FactorAdded(factor=EnrolledFactorType.from_model(outcome.factor, method))


REGISTRY = Registry(
    [
        # Successes.
        translation(results.LoginSuccess, login.LoginSuccess, _login_success),
        translation(results.SecondFactorRequired, login.SecondFactorRequired, _second_factor_required),
        translation(
            results.ConversionRequired,
            login.ConversionRequired,
            lambda o, _: login.ConversionRequired(ticket=o.ticket.token, expires_at=o.ticket.expires_at, email=o.email),
        ),
        translation(
            results.ConversionPending,
            login.ConversionPending,
            lambda o, _: login.ConversionPending(
                ticket=o.ticket.token, expires_at=o.ticket.expires_at, sent_to=o.sent_to
            ),
        ),
        translation(
            results.ConversionRequested,
            conversion.ConversionRequested,
            lambda o, _: conversion.ConversionRequested(
                sent_to=o.sent_to, expires_at=o.expires_at, delivery=conversion.MailDelivery(o.delivery.value)
            ),
        ),
        translation(results.EnrollmentStarted, enrollment.EnrollmentStarted, _enrollment_started),
        translation(
            results.SecondFactorChallenge,
            codes.SecondFactorChallenge,
            lambda o, _: codes.SecondFactorChallenge(options=cast(JSON, o.options), expires_at=o.expires_at),
        ),
        translation(results.EnrollmentCompleted, enrollment.EnrollmentCompleted, _enrollment_completed),
        translation(
            results.CodeSent,
            codes.CodeSent,
            lambda o, _: codes.CodeSent(sent_to=o.sent_to, expires_at=o.expires_at),
        ),
        translation(
            results.CustomerSettingsUpdated,
            customer_settings.CustomerSettingsUpdated,
            lambda o, _: customer_settings.CustomerSettingsUpdated(customer=CustomerType.from_model(o.customer)),
        ),
        translation(
            results.ChangeReported,
            recovery.ChangeReported,
            lambda o, _: recovery.ChangeReported(
                message=recovery.STOPPED if o.cancelled else recovery.NOT_UNDONE, cancelled=o.cancelled
            ),
        ),
        translation(
            results.PasswordResetRequested,
            recovery.PasswordResetRequested,
            lambda o, _: recovery.PasswordResetRequested(message=recovery.RESET_REQUESTED),
        ),
        translation(
            results.ProfileUpdated,
            profile.ProfileUpdated,
            lambda o, _: profile.ProfileUpdated(user=UserType.from_model(o.user)),
        ),
        translation(
            results.Reauthenticated,
            step_up.Reauthenticated,
            lambda o, info: step_up.Reauthenticated(session=SessionType.from_model(o.session, info)),
        ),
        translation(
            results.RecoveryCodesReplaced,
            my_factors.RecoveryCodesReplaced,
            lambda o, _: my_factors.RecoveryCodesReplaced(recovery_codes=o.recovery_codes),
        ),
        translation(
            results.PasswordChanged,
            account.PasswordChanged,
            lambda o, info: account.PasswordChanged(session=SessionType.from_model(o.session, info)),
        ),
        translation(
            results.EmailChangeRequested,
            account.EmailChangeRequested,
            lambda o, _: account.EmailChangeRequested(sent_to=o.sent_to, expires_at=o.expires_at),
        ),
        translation(
            results.EmailChanged,
            account.EmailChanged,
            lambda o, _: account.EmailChanged(user=UserType.from_model(o.user)),
        ),
        translation(results.FactorAdded, my_factors.FactorAdded, _factor_added),
        translation(
            results.FactorUpdated,
            my_factors.FactorUpdated,
            lambda o, _: my_factors.FactorUpdated(user=UserType.from_model(o.user)),
        ),
        translation(results.UserInvited, members.UserInvited, lambda o, _: members.UserInvited(sent_to=o.sent_to)),
        translation(
            results.InvitationResent,
            members.InvitationResent,
            lambda o, _: members.InvitationResent(sent_to=o.sent_to, expires_at=o.expires_at),
        ),
        translation(
            results.MemberUpdated,
            members.MemberUpdated,
            lambda o, _: members.MemberUpdated(customer=CustomerType.from_model(o.customer)),
        ),
        translation(
            results.PasswordResetSent,
            members.PasswordResetSent,
            lambda o, _: members.PasswordResetSent(sent_to=o.sent_to),
        ),
        translation(
            results.InvitationAccepted,
            members.InvitationAccepted,
            lambda o, _: members.InvitationAccepted(user=UserType.from_model(o.user)),
        ),
        # Expected failures (the `Error` interface).
        translation(
            results.InvalidCredentials,
            errors.InvalidCredentials,
            lambda o, _: errors.InvalidCredentials(message=errors.INVALID_CREDENTIALS),
        ),
        translation(
            results.InvalidCode,
            errors.InvalidCode,
            lambda o, _: errors.InvalidCode(
                message=errors.REUSED_CODE if o.reused_code else errors.WRONG_CODE,
                attempts_left=o.attempts_left,
                reused_code=o.reused_code,
            ),
        ),
        translation(
            results.ChallengeExpired,
            errors.ChallengeExpired,
            lambda o, _: errors.ChallengeExpired(message=errors.EXPIRED_OR_USED),
        ),
        translation(results.TooManyAttempts, errors.TooManyAttempts, _too_many_attempts),
        translation(results.MethodNotAvailable, errors.MethodNotAvailable, _method_not_available),
        translation(
            results.EmailInUse,
            errors.EmailInUse,
            lambda o, _: errors.EmailInUse(message=errors.EMAIL_TAKEN),
        ),
        translation(
            results.InvalidInput,
            errors.InvalidInput,
            lambda o, _: errors.InvalidInput(message=o.message, field=o.field),
        ),
        translation(
            results.AuthenticationRequired,
            errors.AuthenticationRequired,
            lambda o, _: errors.AuthenticationRequired(message=errors.NOT_AUTHENTICATED),
        ),
        translation(
            results.PermissionDenied,
            errors.PermissionDenied,
            lambda o, _: errors.PermissionDenied(message=errors.NOT_PERMITTED),
        ),
        translation(results.ReauthenticationRequired, errors.ReauthenticationRequired, _reauthentication_required),
        translation(
            results.LastFactor,
            errors.LastFactor,
            lambda o, _: errors.LastFactor(
                message=errors.LAST_PHISHING_RESISTANT_FACTOR if o.phishing_resistant else errors.LAST_FACTOR
            ),
        ),
        translation(
            results.LastAdministrator,
            errors.LastAdministrator,
            lambda o, _: errors.LastAdministrator(message=errors.LAST_ADMINISTRATOR),
        ),
    ]
)

# Each mutation's answer, checked against the registry now (at import).
LOGIN: Answers[results.LoginResult, login.LoginResult] = Answers(REGISTRY, login.LoginResult, results.LoginResult)
SEND_LOGIN_CODE: Answers[results.SendLoginCodeResult, codes.SendLoginCodeResult] = Answers(
    REGISTRY, codes.SendLoginCodeResult, results.SendLoginCodeResult
)
BEGIN_SECOND_FACTOR: Answers[results.BeginSecondFactorResult, codes.BeginSecondFactorResult] = Answers(
    REGISTRY, codes.BeginSecondFactorResult, results.BeginSecondFactorResult
)
REQUEST_CONVERSION: Answers[results.RequestConversionResult, conversion.RequestConversionResult] = Answers(
    REGISTRY, conversion.RequestConversionResult, results.RequestConversionResult
)
BEGIN_ENROLLMENT: Answers[results.BeginEnrollmentResult, enrollment.BeginEnrollmentResult] = Answers(
    REGISTRY, enrollment.BeginEnrollmentResult, results.BeginEnrollmentResult
)
CONFIRM_ENROLLMENT: Answers[results.ConfirmEnrollmentResult, enrollment.ConfirmEnrollmentResult] = Answers(
    REGISTRY, enrollment.ConfirmEnrollmentResult, results.ConfirmEnrollmentResult
)
UPDATE_CUSTOMER_SETTINGS: Answers[
    results.UpdateCustomerSettingsResult, customer_settings.UpdateCustomerSettingsResult
] = Answers(REGISTRY, customer_settings.UpdateCustomerSettingsResult, results.UpdateCustomerSettingsResult)
REPORT_UNRECOGNIZED_CHANGE: Answers[results.ReportUnrecognizedChangeResult, recovery.ReportUnrecognizedChangeResult] = (
    Answers(REGISTRY, recovery.ReportUnrecognizedChangeResult, results.ReportUnrecognizedChangeResult)
)
RESET_PASSWORD: Answers[results.ResetPasswordResult, recovery.ResetPasswordResult] = Answers(
    REGISTRY, recovery.ResetPasswordResult, results.ResetPasswordResult
)
REQUEST_PASSWORD_RESET: Answers[results.RequestPasswordResetResult, recovery.RequestPasswordResetResult] = Answers(
    REGISTRY, recovery.RequestPasswordResetResult, results.RequestPasswordResetResult
)
UPDATE_PROFILE: Answers[results.UpdateProfileResult, profile.UpdateProfileResult] = Answers(
    REGISTRY, profile.UpdateProfileResult, results.UpdateProfileResult
)
REAUTHENTICATE: Answers[results.ReauthenticateResult, step_up.ReauthenticateResult] = Answers(
    REGISTRY, step_up.ReauthenticateResult, results.ReauthenticateResult
)
REGENERATE_RECOVERY_CODES: Answers[results.RegenerateRecoveryCodesResult, my_factors.RegenerateRecoveryCodesResult] = (
    Answers(REGISTRY, my_factors.RegenerateRecoveryCodesResult, results.RegenerateRecoveryCodesResult)
)
CHANGE_PASSWORD: Answers[results.ChangePasswordResult, account.ChangePasswordResult] = Answers(
    REGISTRY, account.ChangePasswordResult, results.ChangePasswordResult
)
REQUEST_EMAIL_CHANGE: Answers[results.RequestEmailChangeResult, account.RequestEmailChangeResult] = Answers(
    REGISTRY, account.RequestEmailChangeResult, results.RequestEmailChangeResult
)
CONFIRM_EMAIL_CHANGE: Answers[results.ConfirmEmailChangeResult, account.ConfirmEmailChangeResult] = Answers(
    REGISTRY, account.ConfirmEmailChangeResult, results.ConfirmEmailChangeResult
)
CONFIRM_FACTOR: Answers[results.ConfirmFactorResult, my_factors.ConfirmFactorResult] = Answers(
    REGISTRY, my_factors.ConfirmFactorResult, results.ConfirmFactorResult
)
FACTOR: Answers[results.FactorResult, my_factors.FactorResult] = Answers(
    REGISTRY, my_factors.FactorResult, results.FactorResult
)
INVITE_USER: Answers[results.InviteUserResult, members.InviteUserResult] = Answers(
    REGISTRY, members.InviteUserResult, results.InviteUserResult
)
RESEND_INVITATION: Answers[results.ResendInvitationResult, members.ResendInvitationResult] = Answers(
    REGISTRY, members.ResendInvitationResult, results.ResendInvitationResult
)
MEMBER: Answers[results.MemberResult, members.MemberResult] = Answers(
    REGISTRY, members.MemberResult, results.MemberResult
)
SEND_PASSWORD_RESET: Answers[results.SendPasswordResetResult, members.SendPasswordResetResult] = Answers(
    REGISTRY, members.SendPasswordResetResult, results.SendPasswordResetResult
)
ACCEPT_INVITATION: Answers[results.AcceptInvitationResult, members.AcceptInvitationResult] = Answers(
    REGISTRY, members.AcceptInvitationResult, results.AcceptInvitationResult
)

ANSWERS: tuple[Answers[Any, Any], ...] = (
    LOGIN,
    SEND_LOGIN_CODE,
    BEGIN_SECOND_FACTOR,
    REQUEST_CONVERSION,
    BEGIN_ENROLLMENT,
    CONFIRM_ENROLLMENT,
    UPDATE_CUSTOMER_SETTINGS,
    REPORT_UNRECOGNIZED_CHANGE,
    RESET_PASSWORD,
    REQUEST_PASSWORD_RESET,
    UPDATE_PROFILE,
    REAUTHENTICATE,
    REGENERATE_RECOVERY_CODES,
    CHANGE_PASSWORD,
    REQUEST_EMAIL_CHANGE,
    CONFIRM_EMAIL_CHANGE,
    CONFIRM_FACTOR,
    FACTOR,
    INVITE_USER,
    RESEND_INVITATION,
    MEMBER,
    SEND_PASSWORD_RESET,
    ACCEPT_INVITATION,
)
