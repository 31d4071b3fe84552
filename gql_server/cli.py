"""The `gql-server` command: serve, migrate, operator actions and the schema export."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.config
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from tortoise import Tortoise

from gql_server import db
from gql_server.auth.operator import Operator, OperatorError
from gql_server.enums import MembershipLevel
from gql_server.logs import logging_config
from gql_server.mail import LOCALES
from gql_server.outbox import Delivery
from gql_server.services import build_services
from gql_server.settings import ConfigurationError, Settings

T = TypeVar("T")
EXIT_REFUSED = 1
EXIT_USAGE = 2

LEVELS = {"customer": MembershipLevel.CUSTOMER, "company": MembershipLevel.COMPANY}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = Settings()
        if getattr(args, "needs_secret_key", True):
            # A command on the service's data logs like the service (LOG_FORMAT, LOG_LEVEL, on stderr): in
            # development the outbox prints the mail it writes (an invitation's link), as for the web flows.
            # (The read-only commands leave logging as it is: `new-plugin` runs inside test sessions too.)
            logging.config.dictConfig(logging_config(settings))
            # Fails fast without SECRET_KEY in production; in development makes ./var/secret.key once.
            settings.check()
        result: int = args.run(settings, args)
        return result
    except (OperatorError, ConfigurationError) as exc:
        print(f"gql-server: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ValidationError as exc:
        # Without the input values: the offending value may be SECRET_KEY itself (S25).
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"]).upper()
            print(f"gql-server: invalid configuration: {where}: {error['msg']}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gql-server", description=__doc__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="apply migrations, then run the service (uvicorn)",
        description="Apply pending migrations, then serve the API, the web client and GraphiQL over HTTP.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on; 0.0.0.0 for every interface, e.g. in a container (default: %(default)s)",
    )
    serve.add_argument("--port", type=int, default=8000, help="the TCP port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port, e.g. one per core; see docs/scaling.md (default: %(default)s)",
    )
    serve.add_argument("--demo", action="store_true", help="create demo accounts (development only)")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(run=_migrate)

    customer = commands.add_parser("customer", help="manage customers").add_subparsers(metavar="ACTION", required=True)
    create_customer = customer.add_parser("create", help='create a customer; prints {"id": ...}')
    create_customer.add_argument("name")
    create_customer.set_defaults(run=_create_customer)

    user = commands.add_parser("user", help="manage users").add_subparsers(metavar="ACTION", required=True)
    create_user = user.add_parser("create", help='create a user; prints {"id": ...}')
    create_user.add_argument("--customer", required=True, metavar="ID")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--password", help="omit for a two-factor account that is invited by email")
    create_user.add_argument("--level", required=True, choices=sorted(LEVELS))
    create_user.add_argument("--locale", default="en", choices=LOCALES, help="language of the user's emails")
    create_user.set_defaults(run=_create_user)
    reset = user.add_parser(
        "reset-factors", help="last resort (audited): remove a user's factors, end sessions, send a new invitation"
    )
    reset.add_argument("--email", required=True)
    reset.set_defaults(run=_reset_factors)
    add_membership = user.add_parser("add-membership", help="add a user to another customer")
    add_membership.add_argument("--user", required=True, metavar="ID")
    add_membership.add_argument("--customer", required=True, metavar="ID")
    add_membership.add_argument("--level", required=True, choices=sorted(LEVELS))
    add_membership.set_defaults(run=_add_membership)

    sessions = commands.add_parser("sessions", help="manage sessions").add_subparsers(metavar="ACTION", required=True)
    end_all = sessions.add_parser(
        "end-all", help='end every live session (audited), e.g. after restoring a backup; prints {"ended": N}'
    )
    end_all.set_defaults(run=_end_all_sessions)

    plugins = commands.add_parser("plugins", help="list installed plugins and second-factor methods (JSON)")
    # Reads only: it must work, and write nothing (no ./var/secret.key), on a machine without a key (so
    # does export-schema).
    plugins.set_defaults(run=_plugins, needs_secret_key=False)

    rotate = commands.add_parser(
        "rotate-secret-key",
        help="re-encrypt every factor state from OLD_SECRET_KEY (the key until now) to SECRET_KEY (the new one)",
    )
    rotate.add_argument(
        "--old-key-file", type=Path, metavar="PATH", help="the old key, from a file instead of OLD_SECRET_KEY"
    )
    rotate.set_defaults(run=_rotate_secret_key)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    export.set_defaults(run=_export_schema, needs_secret_key=False)

    new_plugin = commands.add_parser(
        "new-plugin", help="write a plugin package gql-server-NAME/ (a method to replace, tests that pass)"
    )
    new_plugin.add_argument("name", metavar="NAME", help="the plugin's name and method id, e.g. hotp")
    new_plugin.add_argument("--directory", type=Path, default=Path(), metavar="DIR", help="where to write it")
    new_plugin.set_defaults(run=_new_plugin, needs_secret_key=False)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from gql_server.metrics_server import serving_metrics
    from gql_server.plugins import create_plugin_manager, method_set, warn_unready
    from gql_server.serving import UVICORN_OPTIONS, serve

    if args.demo and settings.production:
        raise OperatorError("--demo is for development; it creates accounts with known passwords.")
    log_config = logging_config(settings)
    # Said here, once, rather than by each process that loads the plugins (each worker, --demo's setup).
    pm = create_plugin_manager(settings.disabled_plugins, settings.extra_plugins)
    warn_unready(method_set(pm, settings.method_overrides), production=settings.production)
    asyncio.run(db.migrate(settings.database_url))
    for exposure in settings.production_exposures:
        # S28's production defaults, turned off by a setting: said once, where the operator starts it.
        logging.getLogger("gql_server.serve").warning("production serves %s, which S28 keeps off", exposure)
    if args.demo:
        _print_demo(_with_orm(settings, lambda operator: _demo(operator)), f"http://{args.host}:{args.port}")
    with serving_metrics(settings, args.workers):
        config = uvicorn.Config(
            "gql_server.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # Every process (each spawned worker too) logs in LOG_FORMAT; the app writes its own access
            # line per request, with the request id and without the query string (S25).
            log_config=log_config,
            access_log=False,
            # On SIGTERM: stop accepting at once (S38), let in-flight requests finish, then close
            # (docs/operations.md).
            timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
            # proxy_headers off (TRUSTED_PROXIES is the app's), uvloop and httptools.
            **UVICORN_OPTIONS,
        )
        serve(config)
    return 0


def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(db.migrate(settings.database_url))
    print("migrations applied", file=sys.stderr)
    return 0


def _create_customer(settings: Settings, args: argparse.Namespace) -> int:
    customer = _with_orm(settings, lambda operator: operator.create_customer(args.name))
    print(json.dumps({"id": str(customer.id)}))
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    created = _with_orm(
        settings,
        lambda operator: operator.create_user(
            customer_id=args.customer,
            email=args.email,
            level=LEVELS[args.level],
            password=args.password,
            locale=args.locale,
        ),
    )
    user = created.user
    print(json.dumps({"id": str(user.id), **_invitation_status(created.delivery)}))
    if created.delivery is not None:
        print(f"two-factor account: {_invitation_said(created.delivery, user.email, settings)}", file=sys.stderr)
    return 0


def _reset_factors(settings: Settings, args: argparse.Namespace) -> int:
    reset = _with_orm(settings, lambda operator: operator.reset_factors(args.email))
    print(json.dumps({"id": str(reset.user.id), **_invitation_status(reset.delivery)}))
    said = _invitation_said(reset.delivery, reset.user.email, settings)
    print(f"factors removed, sessions ended; {said}", file=sys.stderr)
    return 0


def _invitation_status(delivery: Delivery | None) -> dict[str, str]:
    return {} if delivery is None else {"invitation": delivery.value.lower()}


def _invitation_said(delivery: Delivery, address: str, settings: Settings) -> str:
    if delivery is Delivery.SENT and not settings.smtp_url and not settings.production:
        # The development transport took it: nobody received it; its log line (above) has the link.
        return (
            f"SMTP_URL is unset, so the invitation to {address} was not mailed: it went to the development "
            "outbox (the development_mailbox table; a deliver_email plugin may have taken it instead), and the "
            "log line above shows it with its link"
        )
    if delivery is Delivery.SENT:
        return f"a new invitation was sent to {address}"
    # S36: the invitation is in the outbox; every serving process delivers what is due.
    return (
        f"the invitation to {address} is queued: the mail server did not take it yet, and a running "
        "`gql-server serve` keeps trying"
    )


def _end_all_sessions(settings: Settings, _args: argparse.Namespace) -> int:
    ended = _with_orm(settings, lambda operator: operator.end_all_sessions())
    print(json.dumps({"ended": ended}))
    print(f"{ended} sessions ended: everyone signs in again", file=sys.stderr)
    return 0


def _add_membership(settings: Settings, args: argparse.Namespace) -> int:
    membership = _with_orm(
        settings,
        lambda operator: operator.add_membership(
            user_id=args.user, customer_id=args.customer, level=LEVELS[args.level]
        ),
    )
    print(json.dumps({"id": str(membership.id)}))
    return 0


def _plugins(settings: Settings, _args: argparse.Namespace) -> int:
    from gql_server.plugins import create_plugin_manager, describe

    pm = create_plugin_manager(settings.disabled_plugins, settings.extra_plugins)
    print(json.dumps(describe(pm, settings.method_overrides), indent=2))
    return 0


def _rotate_secret_key(settings: Settings, args: argparse.Namespace) -> int:
    from gql_server.crypto import Keyring
    from gql_server.rotation import RotationRefused, read_old_secret_key, rotate_factor_states

    try:
        old = Keyring(read_old_secret_key(args.old_key_file))
        new = Keyring(settings.resolved_secret_key)
        report = _with_orm(settings, lambda _operator: rotate_factor_states(old, new))
    except RotationRefused as exc:
        raise OperatorError(str(exc)) from None
    print(json.dumps(report.as_json()))
    print(
        f"{report.reencrypted} factor state(s) re-encrypted ({report.already_current} under the new key already), "
        f"{report.enrollments_reencrypted} enrollment(s) in progress and {report.mail_reencrypted} queued email(s); "
        "start the service with the new SECRET_KEY.",
        file=sys.stderr,
    )
    if report.users_needing_new_recovery_codes:
        print(
            f"{report.users_needing_new_recovery_codes} user(s) hold recovery codes made with the old key: "
            "those codes no longer work (docs/operations.md, 'Rotating SECRET_KEY').",
            file=sys.stderr,
        )
    return 0


def _export_schema(_settings: Settings, _args: argparse.Namespace) -> int:
    from gql_server.api.schema import build_schema

    print(build_schema().as_str())
    return 0


def _new_plugin(_settings: Settings, args: argparse.Namespace) -> int:
    from gql_server.new_plugin import NewPluginError, write_plugin

    try:
        root = write_plugin(args.name, args.directory)
    except NewPluginError as exc:
        print(f"gql-server: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps({"directory": str(root)}))
    return 0


async def _demo(operator: Operator) -> Any:
    from gql_server.demo import ensure_demo_data

    return await ensure_demo_data(operator)


def _print_demo(accounts: Any, base: str) -> None:
    print("\nDemo accounts (development only):", file=sys.stderr)
    for account in accounts:
        print(
            f"  {account.customer_name:<9} {account.level.value:<8} "
            f"{account.email:<22} password: {account.password:<18} customer id: {account.customer_id}",
            file=sys.stderr,
        )
    print(f'Web client: {base}/login (see the README, "The web client")', file=sys.stderr)
    print(f"GraphiQL: {base}/graphql (see the README walkthrough)\n", file=sys.stderr)


def _with_orm(settings: Settings, action: Callable[[Operator], Awaitable[T]]) -> T:
    """Run one operator action against a migrated database, then close the connections."""

    async def run() -> T:
        await db.migrate(settings.database_url)
        await Tortoise.init(config=db.tortoise_config(settings.database_url))
        services = build_services(settings)
        try:
            return await action(services.operator)
        finally:
            await services.close()
            await Tortoise.close_connections()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
