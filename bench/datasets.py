"""The data each figure needs: the main database (P1-P4, S3) and the P5 pairs of small and large ones."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bench import seed
from bench.config import Config
from bench.seed import Users
from gql_server.clock import utcnow

PROBES = 200
# A P5 customer enforces two factors one time in ten; its users are converted (TOTP factor).
ENFORCING_EVERY = 10
P5_VERSION = "p5-v1"


@dataclass(frozen=True)
class MainData:
    """What the main database holds, by email prefix: see `seed_main`."""

    p3_ids: list[uuid.UUID]


async def seed_main(url: str, cfg: Config) -> MainData:
    """P1 password users (p1-), P2/P4 users with sessions (p2-), P3 TOTP users (p3-), S3 victims (s3-)."""
    await seed.fresh_database(url)
    sink = await seed.open_sink(url, bulk=True)
    try:
        open_, enforcing = uuid.uuid4(), uuid.uuid4()
        await sink.insert(
            "customer", seed.CUSTOMER, seed.customer_rows([(open_, "Open", False), (enforcing, "Strict", True)])
        )
        await seed.add_users(sink, Users("p1-", cfg.p1_users, open_))
        await seed.add_users(sink, Users("p2-", cfg.p2_sessions, open_, sessions=True))
        p3_ids = await seed.add_users(sink, Users("p3-", cfg.p3_pool, enforcing, two_factor=True))
        await seed.add_users(sink, Users("s3-", cfg.s3_samples * cfg.runs + 10, open_))
    finally:
        await sink.close(analyze=True)
    return MainData(p3_ids=p3_ids)


async def new_challenges(url: str, user_ids: Sequence[uuid.UUID], run: int) -> str:
    """A fresh challenge per P3 user (as if each had just typed the right password), and their TOTP
    replay guards reset, so each user can verify once more. The raw tokens are `<prefix><i>`."""
    prefix = f"bench-p3-{run}-{uuid.uuid4().hex[:8]}-"
    sink = await seed.open_sink(url)
    try:
        await sink.execute("UPDATE enrolled_factor SET last_counter = NULL")
        await seed.add_challenges(sink, user_ids, [f"{prefix}{i}" for i in range(len(user_ids))])
    finally:
        await sink.close()
    return prefix


@dataclass(frozen=True)
class P5Data:
    """A P5 database: `probe-<k>@bench.test` (k < PROBES) are password users with sessions `bench-probe-<k>`,
    spread over the whole table."""

    url: str
    users: int
    seeded_seconds: float | None


def _probe_indices(users: int, customers: int) -> dict[int, int]:
    """Row index -> probe number: spread evenly, each in a customer that does not enforce two factors."""
    stride = max(1, users // PROBES)
    chosen: dict[int, int] = {}
    for k in range(min(PROBES, users)):
        i = k * stride
        while _enforces(i % customers) or i in chosen:
            i += 1
        chosen[i] = k
    return chosen


async def seed_p5(url: str, users: int, customers: int) -> P5Data:
    """`users` users across `customers` customers (one membership each; one in ten converted to TOTP),
    a session for one user in ten, plus the probes. Reused when an earlier run left the same data."""
    marker = f"{P5_VERSION} users={users} customers={customers}"
    if await _seeded_marker(url) == marker:
        sink = await seed.open_sink(url)
        try:
            await seed.refresh_sessions(sink, [f"bench-probe-{k}" for k in range(min(PROBES, users))])
        finally:
            await sink.close()
        return P5Data(url=url, users=users, seeded_seconds=None)
    started = time.perf_counter()
    await seed.fresh_database(url)
    sink = await seed.open_sink(url, bulk=True)
    try:
        customer_ids = [uuid.uuid4() for _ in range(customers)]
        specs = [(cid, f"Customer {j}", _enforces(j)) for j, cid in enumerate(customer_ids)]
        await sink.insert("customer", seed.CUSTOMER, seed.customer_rows(specs))
        probes = _probe_indices(users, customers)
        for start in range(0, users, seed.BATCH):
            await _seed_p5_slice(sink, range(start, min(users, start + seed.BATCH)), customer_ids, probes)
        await sink.execute("CREATE TABLE bench_seed (marker TEXT NOT NULL)")
        await sink.execute("INSERT INTO bench_seed (marker) VALUES ($1)", marker)
    finally:
        await sink.close(analyze=True)
    return P5Data(url=url, users=users, seeded_seconds=time.perf_counter() - started)


def _enforces(customer: int) -> bool:
    return customer % ENFORCING_EVERY == ENFORCING_EVERY - 1


async def _seed_p5_slice(sink: seed.Sink, rows: range, customer_ids: list[uuid.UUID], probes: dict[int, int]) -> None:
    """Users `rows` (user i belongs to customer i mod C), their memberships, factors and sessions."""
    now = utcnow()
    customers = len(customer_ids)
    hashed = seed.password_hash()
    ids = {i: uuid.uuid4() for i in rows}
    converted = [i for i in rows if _enforces(i % customers)]

    def user(i: int) -> seed.Row:
        email = f"probe-{probes[i]}@bench.test" if i in probes else seed.email("p5-", i)
        return seed.user_row(ids[i], email, hashed, now, two_factor=_enforces(i % customers))

    await sink.insert("user", seed.USER, (user(i) for i in rows))
    memberships = ((uuid.uuid4(), "COMPANY", now, customer_ids[i % customers], ids[i]) for i in rows)
    await sink.insert("membership", seed.MEMBERSHIP, memberships)
    state = seed.totp_state()
    await sink.insert("enrolled_factor", seed.FACTOR, ((uuid.uuid4(), "totp", state, now, ids[i]) for i in converted))
    # One user in ten has a live session; the probes always do.
    for two_factor in (False, True):
        keep = [i for i in rows if (i in probes or i % 10 == 0) and _enforces(i % customers) == two_factor]
        tokens = [f"bench-probe-{probes[i]}" if i in probes else f"bench-bg-{i}" for i in keep]
        await seed.add_sessions(sink, [ids[i] for i in keep], tokens, two_factor)


async def _seeded_marker(url: str) -> str | None:
    """What an earlier run left in the database (None when nothing usable)."""
    if _sqlite_file_missing(url):
        return None
    try:
        sink = await seed.open_sink(url)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        value = await sink.scalar("SELECT marker FROM bench_seed")
    except (sqlite3.Error, asyncpg.PostgresError):
        value = None
    await sink.close()
    return str(value) if value is not None else None


def _sqlite_file_missing(url: str) -> bool:
    # Opening a missing SQLite file would create it.
    return url.startswith("sqlite://") and not os.path.exists(url.removeprefix("sqlite://"))
