"""Typed settings read from the environment (and a `.env` file), as listed in the README."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gql_server.limits import (
    GRACEFUL_SHUTDOWN_SECONDS,
    MAIL_WAIT_SECONDS,
    MAX_REQUEST_BODY_BYTES,
    PASSWORD_BUSY_PAUSE_SECONDS,
    PASSWORD_HASH_QUEUE,
    PLUGIN_TIMEOUT_SECONDS,
    RATE_LIMIT_CHANGE_PASSWORD,
    RATE_LIMIT_CONFIRM_EMAIL_CHANGE,
    RATE_LIMIT_INVITE_USER,
    RATE_LIMIT_LOGIN,
    RATE_LIMIT_REAUTHENTICATE,
    RATE_LIMIT_REPORT_UNRECOGNIZED_CHANGE,
    RATE_LIMIT_REQUEST_CONVERSION,
    RATE_LIMIT_REQUEST_PASSWORD_RESET,
    RATE_LIMIT_RESEND_INVITATION,
    RATE_LIMIT_RESET_PASSWORD,
    RATE_LIMIT_SEND_LOGIN_CODE,
    RATE_LIMIT_SEND_PASSWORD_RESET,
    RATE_LIMIT_SEND_REAUTHENTICATION_CODE,
    RATE_LIMIT_VERIFY_SECOND_FACTOR,
    SECRET_KEY_MIN_LENGTH,
    SESSION_ABSOLUTE_HOURS,
    SESSION_IDLE_MINUTES,
    TICKET_MINUTES,
)

DEFAULT_SECRET_FILE = Path("var/secret.key")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The values of OTEL_TRACES_EXPORTER the tracing extra can serve (gql_server/tracing.py).
TRACES_EXPORTERS = ("otlp", "console", "none")


class Environment(StrEnum):
    """Where the service runs; production hardens defaults."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    """How the service writes its log: readable lines, or one JSON object per line for log pipelines."""

    TEXT = "text"
    JSON = "json"


class ConfigurationError(Exception):
    """The settings cannot run a service (raised at start-up, never during a request)."""


class Settings(BaseSettings):
    """Every knob of the service. Names match the environment variables in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite://./var/gql_server.sqlite3"
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "gql-server@localhost"
    # The name authenticator apps show next to the account.
    totp_issuer: str = "gql_server"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = Field(default=None, min_length=SECRET_KEY_MIN_LENGTH)
    gql_server_env: Environment = Environment.DEVELOPMENT

    # Every default below that is a number (or a rate) is a limit of gql_server/limits.py, with its rule.
    # Sessions (S17): NIST 800-63B AAL2 re-authentication limits.
    session_idle_minutes: int = Field(default=SESSION_IDLE_MINUTES, ge=1)
    session_absolute_hours: int = Field(default=SESSION_ABSOLUTE_HOURS, ge=1)
    # The ticket of ConversionRequired only lets the user ask for an invitation (S12).
    ticket_minutes: int = Field(default=TICKET_MINUTES, ge=1)
    # Argon2 runs in worker threads; this bounds how many hash at once (memory: 19 MiB each). By default one
    # per CPU this process may use: more threads than cores only thrash the caches (P1: 32-35 -> 37-42
    # logins/s on one core with 1 thread instead of 4).
    password_hash_concurrency: int = Field(default_factory=lambda: usable_cpus(), ge=1)
    # Logins that may wait for a hashing thread; past that, login answers TooManyAttempts at once (P4).
    password_hash_queue: int = Field(default=PASSWORD_HASH_QUEUE, ge=0)
    password_busy_pause_seconds: float = Field(default=PASSWORD_BUSY_PAUSE_SECONDS, ge=0, le=10)
    # Per-client-address budgets ("N/second|minute|hour"), shared through Redis when REDIS_URL is set.
    rate_limit_login: str = RATE_LIMIT_LOGIN
    rate_limit_verify_second_factor: str = RATE_LIMIT_VERIFY_SECOND_FACTOR
    rate_limit_send_login_code: str = RATE_LIMIT_SEND_LOGIN_CODE
    rate_limit_request_conversion: str = RATE_LIMIT_REQUEST_CONVERSION
    rate_limit_report_unrecognized_change: str = RATE_LIMIT_REPORT_UNRECOGNIZED_CHANGE
    rate_limit_request_password_reset: str = RATE_LIMIT_REQUEST_PASSWORD_RESET
    rate_limit_reset_password: str = RATE_LIMIT_RESET_PASSWORD
    rate_limit_reauthenticate: str = RATE_LIMIT_REAUTHENTICATE
    rate_limit_send_reauthentication_code: str = RATE_LIMIT_SEND_REAUTHENTICATION_CODE
    rate_limit_confirm_email_change: str = RATE_LIMIT_CONFIRM_EMAIL_CHANGE
    rate_limit_change_password: str = RATE_LIMIT_CHANGE_PASSWORD
    # R19: per customer admin (their account, not their address).
    rate_limit_invite_user: str = RATE_LIMIT_INVITE_USER
    rate_limit_resend_invitation: str = RATE_LIMIT_RESEND_INVITATION
    rate_limit_send_password_reset: str = RATE_LIMIT_SEND_PASSWORD_RESET
    # Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the client; none by default,
    # so a client cannot choose its own address for the rate limits.
    trusted_proxies: str = ""
    # S36: how long a request waits for the mail it wrote (an invitation) before answering that it is queued;
    # the outbox keeps trying after that. Mail never delays anything but its own request.
    mail_wait_seconds: float = Field(default=MAIL_WAIT_SECONDS, ge=0)
    # Longest wait for a plugin's begin_enrollment, send_code or verify before it counts as failed.
    gql_server_plugin_timeout_seconds: float = Field(default=PLUGIN_TIMEOUT_SECONDS, gt=0)
    # Comma-separated plugin names that must not load (architecture.md, "Plugins").
    gql_server_disabled_plugins: str = ""
    # Comma-separated modules to load as plugins on top of the installed entry points (opt-in ones,
    # such as gql_server_policy_strong_admins).
    gql_server_plugins: str = ""
    # S40: "method_id:plugin_name,...": the plugin whose method is used when several register one id
    # (without it, a taken id is a start-up error).
    gql_server_method_overrides: str = ""
    # Where the JSON-lines audit exporter writes: a file path, "-" for stdout, unset for off.
    gql_server_audit_jsonl: str | None = None
    # GraphiQL and introspection; None means "on in development, off in production".
    graphiql: bool | None = None
    introspection: bool | None = None

    # Operations (docs/operations.md): logs, Prometheus metrics on their own port, graceful shutdown.
    log_format: LogFormat = LogFormat.TEXT
    log_level: str = "INFO"
    metrics_enabled: bool = False
    # A port of its own, on loopback by default: the public GraphQL port never serves /metrics.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=1, le=65535)
    # How long a stopping server lets in-flight requests finish before cutting them off; below the
    # 30 s that Kubernetes and Docker wait between SIGTERM and SIGKILL, so the shutdown still closes cleanly.
    graceful_shutdown_seconds: int = Field(default=GRACEFUL_SHUTDOWN_SECONDS, ge=1)
    # S27: request bodies larger than this are refused with 413 before they are read whole.
    max_request_body_bytes: int = Field(default=MAX_REQUEST_BODY_BYTES, ge=1)

    # Tracing (docs/operations.md, "Tracing"): OpenTelemetry spans, with the `tracing` extra installed. Off by
    # default; off, nothing of OpenTelemetry is imported. Where spans go, and which are kept, is OpenTelemetry's
    # own configuration: the standard OTEL_* variables, read by its SDK (OTEL_EXPORTER_OTLP_ENDPOINT,
    # OTEL_TRACES_SAMPLER, OTEL_SERVICE_NAME, ...). These two are read here as well, so that they can also
    # come from `.env`: OTEL_SDK_DISABLED=true switches tracing off whatever TRACING_ENABLED says.
    tracing_enabled: bool = False
    otel_sdk_disabled: bool = False
    # Comma-separated, as the OpenTelemetry specification has it: otlp (OTLP over HTTP/protobuf), console
    # (stdout), none (spans are made, so log lines carry trace ids, but sent nowhere).
    otel_traces_exporter: str = "otlp"

    @field_validator(
        "rate_limit_login",
        "rate_limit_verify_second_factor",
        "rate_limit_send_login_code",
        "rate_limit_request_conversion",
        "rate_limit_report_unrecognized_change",
        "rate_limit_request_password_reset",
        "rate_limit_reset_password",
        "rate_limit_reauthenticate",
        "rate_limit_send_reauthentication_code",
        "rate_limit_confirm_email_change",
        "rate_limit_change_password",
        "rate_limit_invite_user",
        "rate_limit_resend_invitation",
        "rate_limit_send_password_reset",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '30/minute': {value!r}") from exc
        return value

    @field_validator("gql_server_method_overrides")
    @classmethod
    def _method_overrides(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            method_id, _, plugin = item.partition(":")
            if not method_id.strip() or not plugin.strip():
                raise ValueError(f"not 'method_id:plugin_name': {item!r}")
        return value

    @field_validator("otel_traces_exporter")
    @classmethod
    def _traces_exporter(cls, value: str) -> str:
        names = [name.strip().lower() for name in value.split(",") if name.strip()]
        unknown = sorted(set(names) - set(TRACES_EXPORTERS))
        if unknown or not names:
            raise ValueError(f"not a traces exporter ({', '.join(TRACES_EXPORTERS)}): {value!r}")
        return ",".join(names)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"not a log level ({', '.join(LOG_LEVELS)})")
        return level

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def production(self) -> bool:
        """True when running with GQL_SERVER_ENV=production."""
        return self.gql_server_env is Environment.PRODUCTION

    @property
    def tracing(self) -> bool:
        """Whether spans are made: TRACING_ENABLED, unless OTEL_SDK_DISABLED says otherwise."""
        return self.tracing_enabled and not self.otel_sdk_disabled

    @property
    def traces_exporters(self) -> list[str]:
        """OTEL_TRACES_EXPORTER as a list of exporter names ("none" alone means none)."""
        return [name for name in self.otel_traces_exporter.split(",") if name != "none"]

    @property
    def disabled_plugins(self) -> list[str]:
        """GQL_SERVER_DISABLED_PLUGINS as a list of names."""
        return [name.strip() for name in self.gql_server_disabled_plugins.split(",") if name.strip()]

    @property
    def extra_plugins(self) -> list[str]:
        """GQL_SERVER_PLUGINS as a list of module names."""
        return [name.strip() for name in self.gql_server_plugins.split(",") if name.strip()]

    @property
    def method_overrides(self) -> dict[str, str]:
        """GQL_SERVER_METHOD_OVERRIDES as {method id: plugin name}."""
        pairs = (part.strip().partition(":") for part in self.gql_server_method_overrides.split(",") if part.strip())
        return {method_id.strip(): plugin.strip() for method_id, _, plugin in pairs}

    @property
    def trusted_proxy_list(self) -> list[str]:
        """TRUSTED_PROXIES as a list."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def graphiql_enabled(self) -> bool:
        """GraphiQL is served in development unless switched off, in production only on request."""
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def introspection_enabled(self) -> bool:
        """Introspection is set on its own (INTROSPECTION), else follows GraphiQL in development (which needs it)
        and is off in production (S28), GraphiQL or not: turning the explorer on for production must not
        quietly publish the schema as well."""
        if self.introspection is not None:
            return self.introspection
        return self.graphiql_enabled and not self.production

    @property
    def production_exposures(self) -> list[str]:
        """What production serves against S28's defaults because a setting asked for it (warned at start-up)."""
        exposed = []
        if self.production and self.graphiql_enabled:
            exposed.append("GraphiQL (GRAPHIQL=true)")
        if self.production and self.introspection_enabled:
            exposed.append("introspection (INTROSPECTION=true)")
        return exposed

    @property
    def secure_cookies(self) -> bool:
        """Cookies get `Secure` when the public URL is https (S19)."""
        return urlsplit(self.public_url).scheme == "https"

    @property
    def session_idle(self) -> timedelta:
        """How long a session lives without being used."""
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_absolute(self) -> timedelta:
        """How long a session lives at most, however busy."""
        return timedelta(hours=self.session_absolute_hours)

    @cached_property
    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or in development a key generated once into ./var/secret.key."""
        if self.secret_key:
            return self.secret_key
        if self.production:
            raise ConfigurationError("SECRET_KEY is required when GQL_SERVER_ENV=production")
        return _development_secret(DEFAULT_SECRET_FILE)

    def check(self) -> None:
        """Fail fast on settings that cannot run (called by the app factory and the CLI)."""
        _ = self.resolved_secret_key


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. under taskset or a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _development_secret(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with owner-only permissions: the key protects TOTP secrets at rest (S23).
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(key + "\n", encoding="utf-8")
    return key
