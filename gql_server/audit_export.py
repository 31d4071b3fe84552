"""The built-in `auth_event` consumer: every audited event as one JSON line (GQL_SERVER_AUDIT_JSONL).

One schema for every event, whatever method or plugin caused it, so a SIEM can ingest the stream:

    {"at": "2026-11-27T21:00:00.123456+00:00", "kind": "login_succeeded", "id": "42",
     "actor": {"id": "...", "email": "..."} | null, "subject": "<user id>" | null,
     "customer": "<customer id>" | null, "data": {"method": "totp", "ip": "..."}}
"""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any

from gql_server.plugin_api import AuthEvent, hookimpl


def event_record(event: AuthEvent) -> dict[str, Any]:
    """The exported form of an audit event (never a secret: `data` holds none, S25)."""
    actor = {"id": event.actor_id, "email": event.actor_email} if event.actor_id or event.actor_email else None
    return {
        "at": event.at.isoformat(),
        "kind": event.kind,
        "id": str(event.id),
        "actor": actor,
        "subject": event.subject_id,
        "customer": event.customer_id,
        "data": dict(event.data),
    }


class JsonLinesAuditExporter:
    """Writes each audited event as one line of JSON to a file (appending) or to stdout."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # Several requests may finish at once; a line must never interleave with another.
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: str) -> JsonLinesAuditExporter:
        """`-` for stdout, otherwise a file path opened for appending, line-buffered."""
        if target == "-":
            return cls(sys.stdout)
        return cls(open(target, "a", encoding="utf-8", buffering=1))

    def close(self) -> None:
        """Close the file (never stdout) when the service stops."""
        if self._stream is not sys.stdout:
            self._stream.close()

    @hookimpl
    def auth_event(self, event: AuthEvent) -> None:
        """Append the event as one JSON line."""
        line = json.dumps(event_record(event), ensure_ascii=False, default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
