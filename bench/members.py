"""R19's member list at 10,000 members per customer: the first page against one after the 9,950th member,
and a page filtered by part of the address (`python -m bench.members DATABASE_URL`, on an empty database:
it seeds 10,000 members of the measured customer and 10,000 of another one sharing the table, 1,000 of whom
are invited to the measured customer and have not accepted: listed among its members, PendingMembership)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta

from tortoise import Tortoise

from gql_server.auth.members import MemberFilter, Members, Position
from gql_server.clock import utcnow
from gql_server.db import migrate, tortoise_config
from gql_server.enums import Assurance, ConversionState, LoginMethod, MembershipLevel
from gql_server.models import Customer, Membership, PendingMembership, Session, User
from gql_server.plugins import collect_methods, create_plugin_manager
from gql_server.policy import Policy

MEMBERS = 10_000
INVITED = 1_000
PAGE = 50
REPEATS = 30


async def _seed(customer: Customer, prefix: str) -> list[uuid.UUID]:
    """MEMBERS two-factor users of `customer`, the first one its admin, added a microsecond apart."""
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(MEMBERS)]
    await User.bulk_create(
        [
            User(
                id=uid,
                email=f"{prefix}{i:05d}@example.com",
                password_hash=None,  # nobody signs in: the list is what is measured
                login_method=LoginMethod.TWO_FACTOR,
                conversion=ConversionState.COMPLETED,
            )
            for i, uid in enumerate(ids)
        ],
        batch_size=1000,
    )
    await Membership.bulk_create(
        [
            Membership(
                user_id=uid,
                customer=customer,
                level=MembershipLevel.CUSTOMER if i == 0 else MembershipLevel.COMPANY,
                created_at=now + timedelta(microseconds=i),
            )
            for i, uid in enumerate(ids)
        ],
        batch_size=1000,
    )
    return ids


async def main(url: str) -> None:
    """Seed, time the three pages, print one line."""
    await migrate(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        pm = create_plugin_manager((), ())
        members = Members(Policy(pm, collect_methods(pm, {})))
        customer = await Customer.create(name="Big Oy")
        ids = await _seed(customer, "u")
        others = await _seed(await Customer.create(name="Other Oy"), "o")
        # Invited to the measured customer after its members were added: the later pages merge both tables.
        start = utcnow()
        await PendingMembership.bulk_create(
            [
                PendingMembership(
                    user_id=uid,
                    customer=customer,
                    level=MembershipLevel.COMPANY,
                    created_at=start + timedelta(microseconds=10 * i),
                )
                for i, uid in enumerate(others[:INVITED])
            ],
            batch_size=1000,
        )
        now = utcnow()
        created = await Session.create(
            user_id=ids[0],
            token_hash=uuid.uuid4().hex,
            assurance=Assurance.TWO_FACTOR,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
        )
        session = await Session.get(id=created.id).prefetch_related("user")
        late = (await Membership.filter(customer_id=customer.id).order_by("created_at", "id").offset(9950).limit(1))[0]

        async def median_ms(after: Position | None, wanted: MemberFilter) -> float:
            times = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                page = await members.page(session, customer, PAGE, after, wanted)
                times.append((time.perf_counter() - start) * 1000)
                assert page is not None and page.members
            return statistics.median(times)

        first = await median_ms(None, MemberFilter())
        later = await median_ms(Position(late.created_at, late.id), MemberFilter())
        filtered = await median_ms(None, MemberFilter(email_contains="u099"))
        print(
            f"{url.split(':')[0]}: first page {first:.1f} ms, page after member 9,950 {later:.1f} ms, "
            f"filtered by part of the address {filtered:.1f} ms (medians of {REPEATS}; {PAGE} per page; "
            f"{MEMBERS} members and {INVITED} invited, and {MEMBERS} of another customer in the same table)"
        )
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
