"""The mutations' resolvers: each asks one auth service and answers its outcome through `outcomes.py`.

No rule lives here (they are the services'); the types and unions are declared in the area modules.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from gql_server.api import outcomes
from gql_server.api.account import ChangePasswordResult, ConfirmEmailChangeResult, RequestEmailChangeResult
from gql_server.api.codes import BeginSecondFactorResult, SendLoginCodeResult
from gql_server.api.context import Info
from gql_server.api.conversion import RequestConversionResult
from gql_server.api.customer_settings import CustomerSettingsInput, UpdateCustomerSettingsResult
from gql_server.api.enrollment import BeginEnrollmentResult, ConfirmEnrollmentResult
from gql_server.api.login import LoginResult
from gql_server.api.members import (
    AcceptInvitationResult,
    InviteUserResult,
    MemberResult,
    ResendInvitationResult,
    SendPasswordResetResult,
)
from gql_server.api.my_factors import ConfirmFactorResult, FactorResult, RegenerateRecoveryCodesResult
from gql_server.api.profile import UpdateProfileResult
from gql_server.api.recovery import (
    ReportUnrecognizedChangeResult,
    RequestPasswordResetResult,
    ResetPasswordResult,
)
from gql_server.api.step_up import ReauthenticateResult
from gql_server.auth import results
from gql_server.auth.customers import SettingsChange
from gql_server.enums import LoginMethod, MembershipLevel

# beginEnrollment's and addFactor's: where a method that texts a code sends it.
PhoneNumber = Annotated[
    str | None,
    strawberry.argument(
        description="For methods that text a code (sms): where to send it; an alias of input.phoneNumber."
    ),
]
# beginEnrollment's and addFactor's: what the method asks for (SecondFactorMethod.enrollmentInput).
EnrollmentInput = Annotated[
    JSON | None,
    strawberry.argument(
        description=(
            "What the method asks for at enrollment, as its SecondFactorMethod.enrollmentInput (a JSON Schema) says."
        )
    ),
]


NOT_AN_OBJECT = "`input` is a JSON object of the fields the method asks for (SecondFactorMethod.enrollmentInput)."


def _input_object(value: object) -> dict[str, object] | None:
    """`input` as an object ({} when left out); None when it is JSON of another kind (a list, a number)."""
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


async def login(info: Info, email: str, password: str) -> LoginResult:
    """Step one of every login."""
    services = info.context.services
    context = info.context
    outcome = await services.login.login(
        email, password, ip=context.client_ip, user_agent=context.user_agent, device=context.device_token
    )
    return outcomes.LOGIN(outcome, info)


async def begin_second_factor(info: Info, challenge: str, method: str) -> BeginSecondFactorResult:
    """For challenge-response methods (passkeys): the options the client answers (then verifySecondFactor
    with its response as JSON text in `code`)."""
    services = info.context.services
    outcome = await services.second_factor.begin_second_factor(challenge, method, ip=info.context.client_ip)
    return outcomes.BEGIN_SECOND_FACTOR(outcome, info)


async def verify_second_factor(
    info: Info, challenge: str, method: str, code: str, remember_device: bool | None = False
) -> LoginResult:
    """Step two of a two-factor login: one code for the challenge (each call is one attempt, S7); with
    `rememberDevice` the browser may skip it later (R18)."""
    services = info.context.services
    context = info.context
    outcome = await services.second_factor.verify(
        challenge,
        method,
        code,
        ip=context.client_ip,
        user_agent=context.user_agent,
        remember_device=bool(remember_device),
        device=context.device_token,
    )
    return outcomes.LOGIN(outcome, info)


async def logout(info: Info) -> bool:
    """Ends the current session. True when a session was ended."""
    session = await info.context.session()
    info.context.clear_session_cookie()
    info.context.forget_session()
    if session is None:
        return False
    return await info.context.services.login.logout(session, ip=info.context.client_ip)


async def send_login_code(info: Info, challenge: str, method: str) -> SendLoginCodeResult:
    """For methods that deliver a code (email_code, sms, ...): send one for this challenge."""
    services = info.context.services
    outcome = await services.second_factor.send_login_code(challenge, method, ip=info.context.client_ip)
    return outcomes.SEND_LOGIN_CODE(outcome, info)


async def request_conversion(info: Info, ticket: str, email: str) -> RequestConversionResult:
    """From ConversionRequired or ConversionPending: send (or re-send) the invitation email."""
    services = info.context.services
    outcome = await services.conversion.request_with_ticket(ticket, email, ip=info.context.client_ip)
    return outcomes.REQUEST_CONVERSION(outcome, info)


async def start_conversion(info: Info, email: str) -> RequestConversionResult:
    """Voluntary conversion by a signed-in password user (rule R8)."""
    services = info.context.services
    session = await info.context.session()
    outcome = await services.conversion.start_for_session(session, email, ip=info.context.client_ip)
    return outcomes.REQUEST_CONVERSION(outcome, info)


async def begin_enrollment(
    info: Info,
    invitation: str,
    method: str,
    phone_number: PhoneNumber = None,
    input: EnrollmentInput = None,
) -> BeginEnrollmentResult:
    """Choose a method from the invitation and start enrolling it."""
    given = _input_object(input)
    if given is None:
        return outcomes.BEGIN_ENROLLMENT(results.InvalidInput(NOT_AN_OBJECT, "input"), info)
    outcome = await info.context.services.enrollment.begin(invitation, method, phone_number, given)
    return outcomes.BEGIN_ENROLLMENT(outcome, info)


async def confirm_enrollment(
    info: Info, enrollment: str, code: str, password: str | None = None
) -> ConfirmEnrollmentResult:
    """Prove the factor with a code; the session token is also set as the cookie."""
    services = info.context.services
    context = info.context
    outcome = await services.enrollment.confirm(
        enrollment, code, password, ip=context.client_ip, user_agent=context.user_agent
    )
    return outcomes.CONFIRM_ENROLLMENT(outcome, info)


async def update_customer_settings(
    info: Info, customer_id: strawberry.ID, input: CustomerSettingsInput
) -> UpdateCustomerSettingsResult:
    """Change a customer's settings; customer-level members only (R1). Every change is audited."""
    change = SettingsChange(
        enforce_two_factor=input.enforce_two_factor,
        allowed_methods=input.allowed_methods,
        remember_device_days=input.remember_device_days,
        require_phishing_resistant_admins=input.require_phishing_resistant_admins,
    )
    outcome = await info.context.services.customers.update(await info.context.session(), str(customer_id), change)
    return outcomes.UPDATE_CUSTOMER_SETTINGS(outcome, info)


async def report_unrecognized_change(info: Info, token: str) -> ReportUnrecognizedChangeResult:
    """R13: the link in a notice sent to the previous address ("this wasn't me")."""
    outcome = await info.context.services.reports.report(token, ip=info.context.client_ip)
    return outcomes.REPORT_UNRECOGNIZED_CHANGE(outcome, info)


async def update_profile(info: Info, locale: str) -> UpdateProfileResult:
    """R13: the caller's own settings: the language of their emails and of the web client."""
    services = info.context.services
    outcome = await services.profile.update(await info.context.session(), locale, ip=info.context.client_ip)
    return outcomes.UPDATE_PROFILE(outcome, info)


async def request_password_reset(info: Info, email: str) -> RequestPasswordResetResult:
    """R16 "forgot your password": the same answer for any address; a link only to an account's own."""
    outcome = await info.context.services.password_resets.request(email, ip=info.context.client_ip)
    return outcomes.REQUEST_PASSWORD_RESET(outcome, info)


async def reset_password(info: Info, token: str, new_password: str) -> ResetPasswordResult:
    """R16: a new password with the emailed link; a two-factor user still answers the second factor."""
    services = info.context.services
    outcome = await services.password_resets.reset(
        token,
        new_password,
        services.login.after_password,
        ip=info.context.client_ip,
        user_agent=info.context.user_agent,
    )
    return outcomes.RESET_PASSWORD(outcome, info)


async def end_session(info: Info, id: strawberry.ID) -> bool:
    """R17: end one of the viewer's sessions. False for an id that is not one of their live sessions."""
    session = await info.context.session()
    ended = await info.context.services.my_sessions.end(session, str(id), ip=info.context.client_ip)
    if session is not None and ended == session.id:
        # The viewer ended the session it is using: as logout does, the browser's cookie goes with it.
        info.context.clear_session_cookie()
        info.context.forget_session()
    return ended is not None


async def forget_device(info: Info, id: strawberry.ID) -> bool:
    """R18: forget one of the viewer's remembered browsers. False for an id that is not one of theirs."""
    context = info.context
    forgotten = await context.services.devices.forget(
        await context.session(), str(id), raw_token=context.device_token, ip=context.client_ip
    )
    if forgotten is not None and forgotten.this_browser:
        # This browser's own device: its cookie goes with it.
        context.clear_device_cookie()
    return forgotten is not None


async def end_other_sessions(info: Info) -> int:
    """R17: end every session of the viewer but this one; the number ended."""
    session = await info.context.session()
    return await info.context.services.my_sessions.end_others(session, ip=info.context.client_ip)


async def reauthenticate(info: Info, method: str, code: str) -> ReauthenticateResult:
    """R14: verify a second factor again in the current session (step-up)."""
    session = await info.context.session()
    outcome = await info.context.services.step_up.reauthenticate(session, method, code, ip=info.context.client_ip)
    return outcomes.REAUTHENTICATE(outcome, info)


async def send_reauthentication_code(info: Info, method: str) -> SendLoginCodeResult:
    """R14: for methods that deliver a code: send one for reauthenticate."""
    session = await info.context.session()
    outcome = await info.context.services.step_up.send_code(session, method, ip=info.context.client_ip)
    return outcomes.SEND_LOGIN_CODE(outcome, info)


async def begin_reauthentication(info: Info, method: str) -> BeginSecondFactorResult:
    """R14 for challenge-response methods (passkeys): the options the client answers for reauthenticate."""
    session = await info.context.session()
    outcome = await info.context.services.step_up.begin_challenge(session, method, ip=info.context.client_ip)
    return outcomes.BEGIN_SECOND_FACTOR(outcome, info)


async def regenerate_recovery_codes(info: Info) -> RegenerateRecoveryCodesResult:
    """R15, S11: a new set of recovery codes replaces the whole old set; shown once."""
    session = await info.context.session()
    outcome = await info.context.services.my_factors.regenerate_recovery_codes(session, ip=info.context.client_ip)
    return outcomes.REGENERATE_RECOVERY_CODES(outcome, info)


async def change_password(info: Info, current_password: str, new_password: str) -> ChangePasswordResult:
    """R16: a new password with the current one (and a recent second factor, R14); other sessions end."""
    session = await info.context.session()
    outcome = await info.context.services.password_changes.change(
        session, current_password, new_password, ip=info.context.client_ip
    )
    return outcomes.CHANGE_PASSWORD(outcome, info)


async def request_email_change(info: Info, new_email: str) -> RequestEmailChangeResult:
    """R13: the new address gets a link; the old one a notice."""
    session = await info.context.session()
    outcome = await info.context.services.email_changes.request(session, new_email, ip=info.context.client_ip)
    return outcomes.REQUEST_EMAIL_CHANGE(outcome, info)


async def confirm_email_change(info: Info, token: str) -> ConfirmEmailChangeResult:
    """R13: the link mailed to the new address makes it the account's."""
    outcome = await info.context.services.email_changes.confirm(token, ip=info.context.client_ip)
    return outcomes.CONFIRM_EMAIL_CHANGE(outcome, info)


async def add_factor(
    info: Info,
    method: str,
    phone_number: PhoneNumber = None,
    input: EnrollmentInput = None,
) -> BeginEnrollmentResult:
    """R15: begin enrolling another factor; confirmFactor makes it active."""
    given = _input_object(input)
    if given is None:
        return outcomes.BEGIN_ENROLLMENT(results.InvalidInput(NOT_AN_OBJECT, "input"), info)
    session = await info.context.session()
    outcome = await info.context.services.my_factors.add(session, method, phone_number, given)
    return outcomes.BEGIN_ENROLLMENT(outcome, info)


async def confirm_factor(info: Info, enrollment: str, code: str, label: str | None = None) -> ConfirmFactorResult:
    """R15, S14: a code from the new factor makes it active (needs a recent second factor, R14)."""
    session = await info.context.session()
    outcome = await info.context.services.my_factors.confirm(
        session, enrollment, code, label, ip=info.context.client_ip
    )
    return outcomes.CONFIRM_FACTOR(outcome, info)


async def rename_factor(info: Info, id: strawberry.ID, label: str) -> FactorResult:
    """R15: another name for one of the viewer's factors (needs a recent second factor, R14)."""
    session = await info.context.session()
    outcome = await info.context.services.my_factors.rename(session, str(id), label, ip=info.context.client_ip)
    return outcomes.FACTOR(outcome, info)


async def remove_factor(info: Info, id: strawberry.ID) -> FactorResult:
    """R15, R9: remove one of the viewer's factors, never the last; the other sessions end (S18)."""
    session = await info.context.session()
    outcome = await info.context.services.my_factors.remove(session, str(id), ip=info.context.client_ip)
    return outcomes.FACTOR(outcome, info)


async def invite_user(
    info: Info,
    customer_id: strawberry.ID,
    email: str,
    level: MembershipLevel,
    locale: str | None = None,
    login_method: LoginMethod | None = LoginMethod.TWO_FACTOR,
) -> InviteUserResult:
    """R19: a new address gets an account and its invitation; an existing account a JOIN_CUSTOMER one."""
    context = info.context
    outcome = await context.services.member_admin.invite(
        await context.session(),
        str(customer_id),
        email,
        level,
        locale,
        login_method or LoginMethod.TWO_FACTOR,
        ip=context.client_ip,
    )
    return outcomes.INVITE_USER(outcome, info)


async def resend_invitation(info: Info, customer_id: strawberry.ID, user_id: strawberry.ID) -> ResendInvitationResult:
    """R19: send a pending member's invitation again."""
    context = info.context
    outcome = await context.services.member_admin.resend(
        await context.session(), str(customer_id), str(user_id), ip=context.client_ip
    )
    return outcomes.RESEND_INVITATION(outcome, info)


async def remove_member(info: Info, customer_id: strawberry.ID, user_id: strawberry.ID) -> MemberResult:
    """R19: remove a member (or withdraw an invitation to join); never the last administrator."""
    context = info.context
    outcome = await context.services.member_admin.remove(
        await context.session(), str(customer_id), str(user_id), ip=context.client_ip
    )
    return outcomes.MEMBER(outcome, info)


async def set_member_level(
    info: Info, customer_id: strawberry.ID, user_id: strawberry.ID, level: MembershipLevel
) -> MemberResult:
    """R19: change a member's level; never demote the last administrator."""
    context = info.context
    outcome = await context.services.member_admin.set_level(
        await context.session(), str(customer_id), str(user_id), level, ip=context.client_ip
    )
    return outcomes.MEMBER(outcome, info)


async def send_password_reset(
    info: Info, customer_id: strawberry.ID, user_id: strawberry.ID
) -> SendPasswordResetResult:
    """R19: a reset link to a PASSWORD member who belongs to no other customer."""
    context = info.context
    outcome = await context.services.member_admin.send_password_reset(
        await context.session(), str(customer_id), str(user_id), ip=context.client_ip
    )
    return outcomes.SEND_PASSWORD_RESET(outcome, info)


async def accept_invitation(info: Info, invitation: str) -> AcceptInvitationResult:
    """R19, R20: accept a JOIN_CUSTOMER or LINK_ACCOUNT invitation from a session of the account it names."""
    context = info.context
    outcome = await context.services.acceptance.accept(await context.session(), invitation, ip=context.client_ip)
    return outcomes.ACCEPT_INVITATION(outcome, info)
