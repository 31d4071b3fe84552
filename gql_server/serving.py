"""How `gql-server serve` runs uvicorn, in one place: the benchmark's baseline app (bench/) runs the same way."""

from __future__ import annotations

from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {
    # X-Forwarded-For is honoured by the app itself, and only from TRUSTED_PROXIES.
    "proxy_headers": False,
}
