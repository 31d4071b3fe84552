"""Log formats (LOG_FORMAT): readable text lines or JSON lines, both stamped with the request id.

`gql-server serve` hands `logging_config(settings)` to uvicorn, which applies it in its own process and
in every worker it spawns (a worker starts a fresh interpreter that inherits no handlers).

What is logged is decided where it is logged; nothing here filters content. S25 holds because no log
call passes a password, code, secret or token, and because the access log carries the path without its
query string (a GET query may hold an invitation token in its variables). `tests/test_logs.py` scans the
logs of a whole conversion for every secret it handled.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gql_server.request_log import current_request_id
from gql_server.settings import LogFormat, Settings
from gql_server.spans import current_trace_ids

# The attributes every LogRecord has; anything else on a record came from `extra=` and is data.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "span_id",
}
# uvicorn adds an ANSI-coloured copy of its messages for terminals; it is noise in a log pipeline.
_IGNORED_EXTRAS = frozenset({"color_message"})


def _timestamp(record: logging.LogRecord) -> str:
    """UTC, ISO 8601 with milliseconds: sortable, and the same in every format and time zone."""
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRIBUTES and key not in _IGNORED_EXTRAS and not key.startswith("_")
    }


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served (None outside requests), and with tracing on
    (TRACING_ENABLED) with the trace and span id of the current span, so that a log line leads to its trace.

    Attached to handlers, so records of every logger get it, uvicorn's and libraries' included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `record.request_id`, `record.trace_id` and `record.span_id`; never drops a record."""
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        if getattr(record, "trace_id", None) is None:
            ids = current_trace_ids()
            record.trace_id, record.span_id = ids if ids else (None, None)
        return True


def _trace_tag(record: logging.LogRecord) -> str:
    trace_id = getattr(record, "trace_id", None)
    return f" trace_id={trace_id} span_id={getattr(record, 'span_id', None)}" if trace_id else ""


class TextFormatter(logging.Formatter):
    """`2025-01-31T12:00:00.123Z INFO gql_server.access [request id] message`, then any traceback; with tracing
    on, `trace_id=... span_id=...` before the message."""

    def format(self, record: logging.LogRecord) -> str:
        """One readable line (plus the traceback lines of an exception)."""
        request_id = getattr(record, "request_id", None)
        tag = f" [{request_id}]" if request_id else ""
        line = f"{_timestamp(record)} {record.levelname} {record.name}{tag}{_trace_tag(record)} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, pid, request_id, trace_id and span_id (tracing
    on), the record's extra fields, and `exception` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (newlines inside values are escaped)."""
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            # Which worker wrote it, with --workers N.
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        trace_id = getattr(record, "trace_id", None)
        if trace_id:
            entry["trace_id"] = trace_id
            entry["span_id"] = getattr(record, "span_id", None)
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    """The formatter of a LOG_FORMAT."""
    return JsonFormatter() if log_format is LogFormat.JSON else TextFormatter()


def logging_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for LOG_FORMAT and LOG_LEVEL: one handler on stderr for every logger.

    uvicorn's access log is off (`access_log=False` in the CLI): it prints the query string, and the
    service writes its own access line per request (gql_server.access) with the request id.
    """
    formatter = f"gql_server.logs.{type(formatter_for(settings.log_format)).__name__}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "gql_server.logs.RequestIdFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            # Written where the record is made. (A QueueHandler with a listener thread, tried for P2, lost the
            # last lines when uvicorn ends the process by re-raising SIGTERM: no atexit runs then.)
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["default"], "level": settings.log_level},
        "loggers": {
            # uvicorn's loggers carry their own handlers by default; here they go through the root one.
            "uvicorn": {"handlers": [], "propagate": True, "level": settings.log_level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": settings.log_level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            # The database drivers log every statement with its parameters at DEBUG: what callers typed
            # (S29: an address with no account, perhaps a password typed into the email field) would reach
            # the log. Never below INFO, whatever LOG_LEVEL says.
            **{name: {"level": _at_least_info(settings.log_level)} for name in QUIET_AT_DEBUG},
            # Tortoise says "Tortoise-ORM started" and "... shutdown" at INFO each time connections open or
            # close (a command's migration, --demo's setup, each worker's lifespan): lifecycle chatter, never
            # a fault. Its failures are exceptions, and its WARNINGs and ERRORs still show.
            "tortoise": {"level": _at_least_warning(settings.log_level)},
        },
    }


# Loggers that write query parameters at DEBUG ("tortoise" is quieter still, below).
QUIET_AT_DEBUG = ("aiosqlite", "asyncpg")


def _at_least_info(level: str) -> str:
    return "INFO" if level == "DEBUG" else level


def _at_least_warning(level: str) -> str:
    return "WARNING" if level in {"DEBUG", "INFO"} else level
