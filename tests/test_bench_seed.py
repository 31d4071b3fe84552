"""The benchmark's seeding (bench/seed.py writes rows with raw SQL, past the ORM's defaults) keeps up with the
schema: a migration that adds a NOT NULL column breaks `make bench` here first, not after ten minutes of it."""

from __future__ import annotations

import uuid
from pathlib import Path

from tortoise import Tortoise

from bench import seed
from gql_server.db import tortoise_config
from gql_server.models import EnrolledFactor, Session, User


async def test_seeded_users_sessions_and_factors_load_through_the_models(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/seeded.sqlite3"
    await seed.fresh_database(url)
    sink = await seed.open_sink(url, bulk=True)
    customer = uuid.uuid4()
    try:
        await sink.insert("customer", seed.CUSTOMER, seed.customer_rows([(customer, "Strict", True)]))
        password_ids = await seed.add_users(sink, seed.Users("p-", 3, customer, sessions=True))
        converted_ids = await seed.add_users(sink, seed.Users("t-", 2, customer, two_factor=True))
    finally:
        await sink.close()

    await Tortoise.init(config=tortoise_config(url))
    try:
        users = {user.id: user for user in await User.all()}
        sessions = await Session.all().count()
        factors = await EnrolledFactor.filter(user_id__in=converted_ids).count()
    finally:
        await Tortoise.close_connections()

    assert set(users) == {*password_ids, *converted_ids}
    assert [users[i].email for i in password_ids] == [seed.email("p-", i) for i in range(3)]
    assert all(users[i].password_reserved == 0 and not users[i].password_reset_required for i in users)
    assert (sessions, factors) == (3, 2)
