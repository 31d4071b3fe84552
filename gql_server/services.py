"""The service graph, built once per process from the settings and shared by the app and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import pluggy

from gql_server.audit import Auditor
from gql_server.auth.customers import CustomerSettingsService
from gql_server.auth.login import LoginLimits, LoginService
from gql_server.factors import SecondFactorMethod
from gql_server.passwords import PasswordService
from gql_server.plugins import collect_methods, create_plugin_manager
from gql_server.sessions import SessionPolicy
from gql_server.settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything a request or a CLI command needs, wired together."""

    settings: Settings
    plugins: pluggy.PluginManager
    methods: Mapping[str, SecondFactorMethod]
    passwords: PasswordService
    auditor: Auditor
    sessions: SessionPolicy
    login: LoginService
    customer_settings: CustomerSettingsService

    @property
    def enrollable_method_ids(self) -> list[str]:
        """Ids of the installed methods a user can enroll on their own."""
        return sorted(m.id for m in self.methods.values() if m.enrollable)


def build_services(settings: Settings) -> Services:
    """Wire the services for these settings (plugins are loaded here, once)."""
    pm = create_plugin_manager(settings.disabled_plugins)
    methods = collect_methods(pm)
    passwords = PasswordService(settings.password_hash_concurrency)
    auditor = Auditor(pm)
    sessions = SessionPolicy(idle=settings.session_idle, absolute=settings.session_absolute)
    limits = LoginLimits(sessions=sessions, ticket=timedelta(minutes=settings.ticket_minutes))
    return Services(
        settings=settings,
        plugins=pm,
        methods=methods,
        passwords=passwords,
        auditor=auditor,
        sessions=sessions,
        login=LoginService(passwords, auditor, limits),
        customer_settings=CustomerSettingsService(auditor, methods),
    )
