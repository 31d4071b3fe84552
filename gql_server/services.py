"""The service graph, built once per process from the settings and shared by the app and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import pluggy
from argon2 import PasswordHasher

from gql_server.audit import Auditor
from gql_server.audit_export import JsonLinesAuditExporter
from gql_server.auth import lockout
from gql_server.auth.accept_invitation import InvitationAcceptance
from gql_server.auth.conversion import ConversionService
from gql_server.auth.customers import CustomerService
from gql_server.auth.devices import RememberedDevices
from gql_server.auth.email_change import EmailChanges
from gql_server.auth.enrollment import EnrollmentService, EnrollmentSettings
from gql_server.auth.factors import FactorCore
from gql_server.auth.login import LoginLimits, LoginService
from gql_server.auth.member_admin import MemberAdmin
from gql_server.auth.members import Members
from gql_server.auth.my_factors import MyFactors
from gql_server.auth.my_sessions import MySessions
from gql_server.auth.new_factor import NewFactors
from gql_server.auth.notices import ChangeNotices
from gql_server.auth.operator import Operator
from gql_server.auth.password_change import PasswordChanges
from gql_server.auth.password_reset import PasswordResets
from gql_server.auth.profile import ProfileService
from gql_server.auth.report import ReportService
from gql_server.auth.second_factor import SecondFactorService
from gql_server.auth.step_up import StepUpService
from gql_server.crypto import Keyring
from gql_server.links import Links
from gql_server.mail import MailService
from gql_server.mail_transports import default_transport
from gql_server.outbox import Outbox
from gql_server.passwords import PasswordService
from gql_server.plugin_api import SecondFactorMethod
from gql_server.plugin_runner import PluginRunner
from gql_server.plugins import create_plugin_manager, method_set
from gql_server.policy import Policy
from gql_server.ratelimit import ClientRateLimiter, RateLimits
from gql_server.sessions import SessionPolicy
from gql_server.settings import Settings

DEFAULT_TRANSPORT = "gql_server.default_mail_transport"
AUDIT_EXPORTER = "gql_server.audit_jsonl"


@dataclass(frozen=True)
class Services:
    """Everything a request or a CLI command needs, wired together."""

    settings: Settings
    plugins: pluggy.PluginManager
    # The usable methods: what is offered, enrolled and used at login.
    methods: Mapping[str, SecondFactorMethod]
    # Installed methods that cannot work now (`problem()`), with why: not offered; a factor of one still
    # shows on the user's account, as unavailable (docs/plugins.md, "Readiness").
    unready_methods: Mapping[str, tuple[SecondFactorMethod, str]]
    passwords: PasswordService
    auditor: Auditor
    mailer: MailService
    outbox: Outbox
    sessions: SessionPolicy
    policy: Policy
    login: LoginService
    second_factor: SecondFactorService
    conversion: ConversionService
    enrollment: EnrollmentService
    customers: CustomerService
    operator: Operator
    password_resets: PasswordResets
    my_sessions: MySessions
    members: Members
    devices: RememberedDevices
    step_up: StepUpService
    my_factors: MyFactors
    profile: ProfileService
    reports: ReportService
    password_changes: PasswordChanges
    email_changes: EmailChanges
    member_admin: MemberAdmin
    acceptance: InvitationAcceptance
    plugin_runner: PluginRunner
    rate_limiter: ClientRateLimiter | None = None
    audit_exporter: JsonLinesAuditExporter | None = None

    async def close(self) -> None:
        """Release what the services hold open (Redis connections, the audit export file, the plugin
        threads), once the verdicts of requests cancelled at shutdown are written (S35)."""
        await lockout.settle()
        self.plugin_runner.close()
        self.passwords.queue.close()
        if self.rate_limiter is not None:
            await self.rate_limiter.close()
        if self.audit_exporter is not None:
            self.audit_exporter.close()


def build_services(settings: Settings, *, password_hasher: PasswordHasher | None = None) -> Services:
    """Wire the services for these settings (plugins are loaded here, once).

    `password_hasher` replaces S1's argon2id parameters. Only the tests pass one: a cheap argon2id where
    hashing cost is not what they check. It is an argument, not a setting, so no deployment can weaken S1.
    """
    pm = create_plugin_manager(settings.disabled_plugins, settings.extra_plugins)
    exporter = None
    if settings.gql_server_audit_jsonl:
        exporter = JsonLinesAuditExporter.open(settings.gql_server_audit_jsonl)
        pm.register(exporter, name=AUDIT_EXPORTER)
    # The default transport answers last: a third-party deliver_email plugin takes precedence.
    pm.register(default_transport(settings.smtp_url, settings.production), name=DEFAULT_TRANSPORT)
    found = method_set(pm, settings.method_overrides)
    methods = found.usable
    keyring = Keyring(settings.resolved_secret_key)
    passwords = PasswordService(
        settings.password_hash_concurrency,
        hasher=password_hasher,
        max_waiting=settings.password_hash_queue,
        busy_pause=settings.password_busy_pause_seconds,
    )
    auditor = Auditor(pm)
    mailer = MailService(pm, settings.mail_from)
    outbox = Outbox(mailer, keyring, wait_seconds=settings.mail_wait_seconds)
    sessions = SessionPolicy(idle=settings.session_idle, absolute=settings.session_absolute)
    policy = Policy(pm, methods)
    rate_limiter = ClientRateLimiter(
        RateLimits.from_settings(settings),
        settings.redis_url,
    )
    plugin_runner = PluginRunner(settings.gql_server_plugin_timeout_seconds)
    core = FactorCore(methods, keyring, mailer, plugin_runner)
    devices = RememberedDevices(keyring, auditor, policy, sessions)
    second_factor = SecondFactorService(core, auditor, outbox, sessions, rate_limiter, devices, policy)
    links = Links(settings.public_url)
    notices = ChangeNotices(outbox, links)
    resets = PasswordResets(auditor, outbox, links, passwords, rate_limiter, notices)
    conversion = ConversionService(auditor, outbox, links, notices, policy, rate_limiter)
    limits = LoginLimits(sessions=sessions, ticket=timedelta(minutes=settings.ticket_minutes))
    login = LoginService(passwords, auditor, limits, policy, second_factor, rate_limiter, devices)
    step_up = StepUpService(second_factor, core, auditor, outbox, policy, rate_limiter)
    new_factors = NewFactors(policy, core, settings.totp_issuer)
    return Services(
        settings=settings,
        plugins=pm,
        methods=methods,
        unready_methods=found.unready,
        passwords=passwords,
        auditor=auditor,
        mailer=mailer,
        outbox=outbox,
        sessions=sessions,
        policy=policy,
        login=login,
        second_factor=second_factor,
        conversion=conversion,
        enrollment=EnrollmentService(
            policy,
            core,
            new_factors,
            passwords,
            auditor,
            outbox,
            notices,
            login,
            EnrollmentSettings(sessions),
        ),
        customers=CustomerService(auditor, policy, devices),
        operator=Operator(passwords, auditor, conversion, outbox, policy),
        password_resets=resets,
        my_sessions=MySessions(auditor, policy, sessions),
        members=Members(policy),
        devices=devices,
        step_up=step_up,
        my_factors=MyFactors(core, new_factors, step_up, notices, outbox, auditor, policy, found.unready),
        profile=ProfileService(auditor, policy),
        reports=ReportService(auditor, outbox, resets, rate_limiter),
        password_changes=PasswordChanges(login, step_up, passwords, notices, outbox, auditor, policy, rate_limiter),
        email_changes=EmailChanges(step_up, notices, outbox, links, auditor, rate_limiter),
        member_admin=MemberAdmin(auditor, outbox, links, conversion, resets, rate_limiter, policy),
        acceptance=InvitationAcceptance(policy, step_up, auditor),
        plugin_runner=plugin_runner,
        rate_limiter=rate_limiter,
        audit_exporter=exporter,
    )
