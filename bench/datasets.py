"""The data each figure needs: the main database (P1-P4, S3) and the P5 pairs of small and large ones."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from bench import seed
from bench.config import LIFECYCLE_FIGURES, Config
from bench.seed import Users
from gql_server.clock import utcnow

PROBES = 200
# A P5 customer enforces two factors one time in ten; its users are converted (TOTP factor).
ENFORCING_EVERY = 10
P5_VERSION = "p5-v1"


# L1/L2: the first members of the big customer are its admins, each with a session `bench-l1-<i>`.
L_ADMINS = 16
# L3: users with `l_sessions` live sessions each; the one read with is `bench-l3-<i>`.
L3_USERS = 200


@dataclass(frozen=True)
class MainData:
    """What the main database holds, by email prefix: see `seed_main`."""

    p3_ids: list[uuid.UUID]
    # The customer with `l_members` members (L1, L2), None when no lifecycle figure was asked for.
    big_customer: uuid.UUID | None = None


async def seed_main(url: str, cfg: Config) -> MainData:
    """P1 password users (p1-), P2/P4 users with sessions (p2-), P3 TOTP users (p3-), S3 victims (s3-); with
    a lifecycle figure asked for, also the L1-L4 data (`_seed_lifecycle`)."""
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
        if set(cfg.figures) & set(LIFECYCLE_FIGURES):
            big = await _seed_lifecycle(sink, cfg, open_, enforcing)
            return MainData(p3_ids=p3_ids, big_customer=big)
    finally:
        await sink.close(analyze=True)
    return MainData(p3_ids=p3_ids)


async def _seed_lifecycle(sink: seed.Sink, cfg: Config, open_: uuid.UUID, enforcing: uuid.UUID) -> uuid.UUID:
    """L1/L2: a customer with `l_members` password users (l1-), added a millisecond apart so that the list
    (ordered by when each was added) has one order, the first L_ADMINS of them its admins with sessions.
    L3: L3_USERS users (l3-) with `l_sessions` live sessions each. L4: `l4_pool` converted TOTP users (l4-)
    of the enforcing customer with a two-factor session each (`bench-l4-<i>`). The big customer's id."""
    now = utcnow()
    big = uuid.uuid4()
    await sink.insert("customer", seed.CUSTOMER, seed.customer_rows([(big, "Big", False)]))
    ids = [uuid.uuid4() for _ in range(cfg.l_members)]
    hashed = seed.password_hash()
    await sink.insert(
        "user",
        seed.USER,
        (seed.user_row(uid, seed.email("l1-", i), hashed, now, two_factor=False) for i, uid in enumerate(ids)),
    )
    start = now - timedelta(milliseconds=cfg.l_members)
    memberships = (
        (uuid.uuid4(), "CUSTOMER" if i < L_ADMINS else "COMPANY", start + timedelta(milliseconds=i), big, uid)
        for i, uid in enumerate(ids)
    )
    await sink.insert("membership", seed.MEMBERSHIP, memberships)
    admins = ids[:L_ADMINS]
    await seed.add_sessions(sink, admins, [seed.session_token("l1-", i) for i in range(len(admins))], False)
    l3 = await seed.add_users(sink, Users("l3-", L3_USERS, open_, sessions=True))
    for k in range(1, cfg.l_sessions):
        await seed.add_sessions(sink, l3, [f"bench-l3-{i}-{k}" for i in range(L3_USERS)], False)
    await seed.add_users(sink, Users("l4-", cfg.l4_pool, enforcing, two_factor=True, sessions=True))
    return big


async def reset_replay_guards(url: str) -> None:
    """Every seeded TOTP factor may take a code of the current time step again (S8's guard reset), so that
    each L4 user can step up once more."""
    sink = await seed.open_sink(url)
    try:
        await sink.execute("UPDATE enrolled_factor SET last_counter = NULL")
    finally:
        await sink.close()


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
