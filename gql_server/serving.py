"""How `gql-server serve` runs uvicorn, in one place: the benchmark's baseline app (bench/) runs the same way."""

from __future__ import annotations

from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {
    # X-Forwarded-For is honoured by the app itself, and only from TRUSTED_PROXIES.
    "proxy_headers": False,
    # uvloop and httptools, which uvicorn[standard] installs ("auto" picks them, and falls back to asyncio and
    # h11 where they cannot be installed). P2 on one core: viewer 934/s with asyncio + h11, 1302/s with these.
    "loop": "auto",
    "http": "auto",
}
