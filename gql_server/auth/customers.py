"""Customers as their members see them: lookup, the impact preview (R11), settings changes (R1, R18)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from gql_server.audit import AuditKind, Auditor
from gql_server.auth.access import acting_user, is_customer_admin, level_in
from gql_server.auth.account_state import is_two_factor
from gql_server.auth.results import (
    AuthenticationRequired,
    CustomerSettingsUpdated,
    EnforcementImpact,
    InvalidInput,
    PermissionDenied,
    UpdateCustomerSettingsResult,
)
from gql_server.clock import utcnow
from gql_server.emails import MAX_EMAIL_LENGTH, normalize_email
from gql_server.enums import ConversionState, MembershipLevel
from gql_server.limits import REMEMBER_DEVICE_MAX_DAYS
from gql_server.models import AuditEvent, Customer, Membership, Session, User
from gql_server.policy import UNCHANGED, MethodConflict, Policy

if TYPE_CHECKING:
    # Only a type here: auth/devices.py imports `parse_id` from this module.
    from gql_server.auth.devices import RememberedDevices


@dataclass(frozen=True)
class AuditFilter:
    """What an admin narrows the audit log to, and its order (R19); None means any."""

    newest_first: bool = False
    # An AuditKind value, exactly.
    kind: str | None = None
    # Part of the actor's or the subject's address as recorded with the event, case-insensitive.
    email: str | None = None


@dataclass(frozen=True)
class SettingsChange:
    """The fields of CustomerSettingsInput; None means "leave as it is"."""

    enforce_two_factor: bool | None = None
    allowed_methods: list[str] | None = None
    remember_device_days: int | None = None
    require_phishing_resistant_admins: bool | None = None


def parse_id(value: str) -> uuid.UUID | None:
    """A customer or user id from the API, or None when it is not one of ours."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


class CustomerService:
    """Customers as their members see them, and settings changes by their admins (R1, R11)."""

    def __init__(self, auditor: Auditor, policy: Policy, devices: RememberedDevices) -> None:
        self._audit = auditor
        self._policy = policy
        self._devices = devices

    async def visible(self, session: Session | None, customer_id: str) -> Customer | None:
        """The customer when the caller belongs to it and the session satisfies the policy."""
        user = await acting_user(session, self._policy)
        cid = parse_id(customer_id)
        if user is None or cid is None or await level_in(user, cid) is None:
            return None
        return await Customer.get_or_none(id=cid)

    async def impact(self, session: Session | None, customer: Customer) -> EnforcementImpact | PermissionDenied:
        """The preview of R11, for the customer's admins only."""
        if not await self._is_admin(session, customer):
            return PermissionDenied()
        members = await User.filter(memberships__customer_id=customer.id).order_by("email")
        converted = [m for m in members if is_two_factor(m)]
        pending = [m for m in members if not is_two_factor(m) and m.conversion is ConversionState.PENDING]
        to_convert = [m for m in members if not is_two_factor(m) and m.conversion is ConversionState.NOT_STARTED]
        return EnforcementImpact(
            total_users=len(members),
            converted=len(converted),
            pending=len(pending),
            not_started=len(to_convert),
            users_to_convert=to_convert,
        )

    async def audit_log(
        self, session: Session | None, customer: Customer, first: int, after: int | None, wanted: AuditFilter
    ) -> list[AuditEvent] | PermissionDenied | InvalidInput:
        """The customer's audit log, for its admins only (S33): events of the customer's doing or caused by
        its policy (settings, members added, conversions its enforcement required), and its members' own
        actions (logins and failures, lockouts, factors). Up to `first` events matching `wanted`, after the
        event id `after` in the order asked for: the order it happened, or newest first (R19).
        """
        if not await self._is_admin(session, customer):
            return PermissionDenied()
        problem = _check_audit_filter(wanted)
        if problem:
            return problem
        members = User.filter(memberships__customer_id=customer.id).values_list("id", flat=True)
        # S33: an event with a customer is that customer's alone (another customer's policy acting on a
        # shared member included: `Auditor.record_caused_by`); one without is the member's own doing.
        scope = Q(customer_id=customer.id) | Q(customer_id=None, subject_id__in=Subquery(members))
        query = AuditEvent.filter(scope)
        if wanted.kind is not None:
            query = query.filter(kind=wanted.kind)
        if wanted.email:
            # R13, R19: the addresses as they were recorded with each event (stored in lower case), never
            # today's: an admin looking for an old address finds what happened under it.
            needle = normalize_email(wanted.email)
            query = query.filter(Q(subject_email__contains=needle) | Q(actor_email__contains=needle))
        if after is not None:
            query = query.filter(id__lt=after) if wanted.newest_first else query.filter(id__gt=after)
        return await query.order_by("-id" if wanted.newest_first else "id").limit(first)

    async def audit_event_kinds(self, session: Session | None, customer: Customer) -> list[str] | PermissionDenied:
        """The kinds the audit log's `kind` filter takes (R19): every AuditKind, sorted; for the admins only,
        like the log. Every kind, not only those the log holds yet: the list costs no query and tells
        nothing about the customer."""
        if not await self._is_admin(session, customer):
            return PermissionDenied()
        return sorted(kind.value for kind in AuditKind)

    async def _is_admin(self, session: Session | None, customer: Customer) -> bool:
        user = await acting_user(session, self._policy)
        return user is not None and await is_customer_admin(user, customer.id)

    async def update(
        self, session: Session | None, customer_id: str, change: SettingsChange
    ) -> UpdateCustomerSettingsResult:
        """Apply `change` when the caller is a CUSTOMER-level member; otherwise change nothing."""
        if session is None:
            return AuthenticationRequired()
        user = await acting_user(session, self._policy)
        if user is None:
            return AuthenticationRequired()
        cid = parse_id(customer_id)
        # Unknown customers answer like foreign ones: ids are not a way to learn what exists.
        if cid is None or not await is_customer_admin(user, cid):
            return PermissionDenied()
        problem = (
            self._check_methods(change.allowed_methods)
            or _check_days(change.remember_device_days)
            or self._check_phishing_resistant(change.require_phishing_resistant_admins)
        )
        if problem:
            return problem
        async with in_transaction():
            if change.allowed_methods is not None or change.require_phishing_resistant_admins:
                conflict = await self._policy.method_conflict(
                    cid,
                    allowed_methods=UNCHANGED
                    if change.allowed_methods is None
                    else sorted(set(change.allowed_methods)),
                    require_phishing_resistant_admins=change.require_phishing_resistant_admins,
                )
                if conflict is not None:
                    return _conflict_input(conflict, change)
            customer = await Customer.select_for_update().get(id=cid)
            if change.require_phishing_resistant_admins and not customer.require_phishing_resistant_admins:
                gaps = await self._policy.login_gaps(cid, require_phishing_resistant_admins=True, at=ADMIN)
                if gaps:
                    return _admins_without_key(gaps)
            changes = _diff(customer, change)
            previous_days = customer.remember_device_days
            for field, (_old, new) in changes.items():
                setattr(customer, _ATTRIBUTES[field], new)
            if changes:
                customer.settings_updated_at = utcnow()
                await customer.save()
            switched_on = "requirePhishingResistantAdmins" in changes and customer.require_phishing_resistant_admins
            ended = await _end_admin_sessions(cid, keep=session) if switched_on else 0
            forgotten = 0
            if customer.remember_device_days < previous_days:
                # R18: a lowered setting forgets the members' devices it no longer allows, for good.
                forgotten = await self._devices.setting_lowered(cid, customer.remember_device_days)
            for field, (old, new) in changes.items():
                data: dict[str, object] = {"field": field, "old": old, "new": new}
                if field == "rememberDeviceDays" and forgotten:
                    # How many remembered browsers the lowered setting forgot.
                    data["devices_forgotten"] = forgotten
                if field == "requirePhishingResistantAdmins" and ended:
                    # How many administrators' sessions, verified perhaps with a phishable code, it ended.
                    data["sessions_ended"] = ended
                await self._audit.record(AuditKind.SETTINGS_CHANGED, actor=user, customer=customer, data=data)
        return CustomerSettingsUpdated(customer=customer)

    def _check_methods(self, wanted: list[str] | None) -> InvalidInput | None:
        if wanted is None:
            return None
        if not wanted:
            return InvalidInput("Allow at least one method, or users could not enroll.", "allowedMethods")
        enrollable = self._policy.installed_method_ids()
        unknown = [m for m in wanted if m not in enrollable]
        if unknown:
            return InvalidInput(
                f"Not an installed, enrollable method: {', '.join(unknown)}. "
                f"Choose from: {', '.join(enrollable) or 'none installed'}.",
                "allowedMethods",
            )
        return None

    def _check_phishing_resistant(self, wanted: bool | None) -> InvalidInput | None:
        """Switching requirePhishingResistantAdmins on needs a phishing-resistant method installed."""
        if wanted and not self._policy.phishing_resistant_method_ids():
            return InvalidInput(
                "No phishing-resistant method (such as a passkey) is installed on this server; ask the operator.",
                PHISHING_FIELD,
            )
        return None


PHISHING_FIELD = "requirePhishingResistantAdmins"
ADMIN = MembershipLevel.CUSTOMER


async def _end_admin_sessions(customer_id: uuid.UUID, *, keep: Session) -> int:
    """requirePhishingResistantAdmins switched on: every live session of the customer's administrators ends
    but the one that switched it on (a session verified with a code earlier, perhaps on a look-alike site,
    must not go on acting as an administrator); their next sign-in takes their passkey. How many ended."""
    admins = Membership.filter(customer_id=customer_id, level=ADMIN).values_list("user_id", flat=True)
    return (
        await Session.filter(user_id__in=Subquery(admins), ended_at=None).exclude(id=keep.id).update(ended_at=utcnow())
    )


def _admins_without_key(count: int) -> InvalidInput:
    """Issue 16: switching requirePhishingResistantAdmins on would leave `count` administrators (CUSTOMER-level
    members, the caller among them perhaps) signing in with phishable codes; they enroll a passkey first."""
    who = "1 administrator" if count == 1 else f"{count} administrators"
    return InvalidInput(
        f"{who} of this customer (CUSTOMER-level members) have no phishing-resistant factor such as a passkey. "
        "Each of them adds one on their account page first; then switch this on.",
        PHISHING_FIELD,
    )


_ATTRIBUTES = {
    "enforceTwoFactor": "enforce_two_factor",
    "allowedMethods": "allowed_methods",
    "rememberDeviceDays": "remember_device_days",
    "requirePhishingResistantAdmins": "require_phishing_resistant_admins",
}


def _check_days(days: int | None) -> InvalidInput | None:
    """R18: 0 (never remember) up to REMEMBER_DEVICE_MAX_DAYS."""
    if days is None or 0 <= days <= REMEMBER_DEVICE_MAX_DAYS:
        return None
    return InvalidInput(
        f"Days to remember a device: from 0 (never) to {REMEMBER_DEVICE_MAX_DAYS}.", "rememberDeviceDays"
    )


def _check_audit_filter(wanted: AuditFilter) -> InvalidInput | None:
    """R19: a kind is one of AuditKind's; a part of an address is no longer than an address."""
    if wanted.kind is not None and wanted.kind not in _AUDIT_KINDS:
        return InvalidInput("Not a kind of audit event: choose one of Customer.auditEventKinds.", "kind")
    if wanted.email is not None and len(wanted.email.strip()) > MAX_EMAIL_LENGTH:
        return InvalidInput(f"An address has at most {MAX_EMAIL_LENGTH} characters.", "email")
    return None


_AUDIT_KINDS = frozenset(kind.value for kind in AuditKind)


def _conflict_input(conflict: MethodConflict, change: SettingsChange) -> InvalidInput:
    """S32's refusal: what the conflict is and what would solve it, never which other customer is involved."""
    if change.allowed_methods is None:
        # Only requirePhishingResistantAdmins changed: it left some administrator no method to enroll.
        return InvalidInput(
            f"{_members(conflict.members)} of this customer would have no phishing-resistant method left to "
            "enroll: allow one (allowedMethods), or ask the operator to install one.",
            PHISHING_FIELD,
        )
    who = _members(conflict.members)
    cause = (
        f"{who} of this customer would have no method left to enroll: another customer they belong to "
        "(or the server's policy) allows none of these methods."
    )
    if conflict.would_help:
        return InvalidInput(f"{cause} Also allow one of: {', '.join(sorted(conflict.would_help))}.", "allowedMethods")
    return InvalidInput(f"{cause} No choice here leaves them a method; ask the operator.", "allowedMethods")


def _members(count: int) -> str:
    return "1 member" if count == 1 else f"{count} members"


def _diff(customer: Customer, change: SettingsChange) -> dict[str, tuple[object, object]]:
    wanted: dict[str, object] = {}
    if change.enforce_two_factor is not None:
        wanted["enforceTwoFactor"] = change.enforce_two_factor
    if change.allowed_methods is not None:
        wanted["allowedMethods"] = sorted(set(change.allowed_methods))
    if change.remember_device_days is not None:
        wanted["rememberDeviceDays"] = change.remember_device_days
    if change.require_phishing_resistant_admins is not None:
        wanted["requirePhishingResistantAdmins"] = change.require_phishing_resistant_admins
    return {
        field: (getattr(customer, _ATTRIBUTES[field]), new)
        for field, new in wanted.items()
        if getattr(customer, _ATTRIBUTES[field]) != new
    }


def allowed_method_ids(customer: Customer, installed: Collection[str]) -> list[str]:
    """The customer's allowed methods among the installed ones; every installed one when never set."""
    if customer.allowed_methods is None:
        return sorted(installed)
    return [m for m in customer.allowed_methods if m in installed]
