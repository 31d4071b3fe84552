"""S1 (argon2id, rehash, worker threads, bounded), S2 (password rules) and S3 (equal cost)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import threading
import time

import pytest
from argon2 import PasswordHasher, Type

from gql_server.models import User
from gql_server.passwords import PasswordRejected, PasswordService, check_new_password

PASSWORD = "correct horse battery"


async def test_s1_stored_hash_is_argon2id_with_owasp_parameters(make_customer, make_user):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)

    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in user.password_hash


async def test_s1_weaker_hash_is_upgraded_on_login(client, make_customer, make_user):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    await User.filter(id=user.id).update(password_hash=weak.hash(PASSWORD))

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"

    upgraded = (await User.get(id=user.id)).password_hash
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


class RecordingHasher(PasswordHasher):
    """The real hasher, noting which threads hash and how many at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
        self.threads: set[str] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def hash(self, password, *, salt=None):  # type: ignore[override]
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            return super().hash(password, salt=salt)
        finally:
            with self._lock:
                self.running -= 1


async def test_s1_hashing_runs_in_worker_threads_with_bounded_concurrency():
    hasher = RecordingHasher()
    service = PasswordService(concurrency=2, hasher=hasher)

    hashes = await asyncio.gather(*(service.hash(f"password-{i}") for i in range(6)))

    assert len(set(hashes)) == 6
    assert threading.main_thread().name not in hasher.threads
    assert hasher.most_at_once == 2


async def test_s3_unknown_email_costs_one_hash(client, services):
    decoys_before = services.passwords.stats.decoys

    result = await client.login("nobody@example.com", PASSWORD)

    assert result["__typename"] == "InvalidCredentials"
    assert services.passwords.stats.decoys == decoys_before + 1


async def test_s3_unknown_wrong_and_locked_get_the_same_body(client, make_customer, make_user):
    await make_user(await make_customer(), "anna@example.com", PASSWORD)
    body = {"query": "mutation($e:String!,$p:String!){login(email:$e,password:$p){__typename ... on Error{message}}}"}

    async def attempt(email: str, password: str) -> bytes:
        response = await client.http.post("/graphql", json={**body, "variables": {"e": email, "p": password}})
        return response.content

    unknown = await attempt("ghost@example.com", "wrong-guess")
    wrong = await attempt("anna@example.com", "wrong-guess")
    await attempt("anna@example.com", "wrong-guess")
    await attempt("anna@example.com", "wrong-guess")
    locked_right_password = await attempt("anna@example.com", PASSWORD)

    assert unknown == wrong == locked_right_password


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short7!", "at least 8"),
        ("x" * 1025, "at most 1024"),
        ("Password123", "too common"),
        ("salasana123", "too common"),
    ],
)
def test_s2_new_password_rules(password, reason):
    with pytest.raises(PasswordRejected, match=reason):
        check_new_password(password)


def test_s2_no_composition_rules():
    for password in ("eightchr", "all lower case words", "🙂🙂🙂🙂🙂🙂🙂🙂", "x" * 1024):
        check_new_password(password)


async def test_s2_long_passwords_are_not_truncated():
    service = PasswordService(concurrency=1)
    stored = await service.hash("a" * 200 + "x")

    assert (await service.verify(stored, "a" * 200 + "x")).ok
    assert not (await service.verify(stored, "a" * 200 + "y")).ok


@pytest.mark.slow
async def test_s3_unknown_email_and_wrong_password_take_the_same_time(client, make_customer, make_user):
    """S3's timing half: the medians of the two refusals are within 10% of each other.

    Measured over the real app as a frontend sees it. The samples alternate (unknown, wrong, wrong,
    unknown, ...) so that whatever else the machine is doing lands on both sides alike. Each user
    gets two wrong guesses, one less than the lockout, so every wrong guess reaches argon2.
    """
    customer = await make_customer()
    users = [f"user{i}@example.com" for i in range(20)]
    for email in users:
        await make_user(customer, email, PASSWORD)
    guesses = [email for email in users for _ in range(2)]

    async def timed(email: str) -> float:
        started = time.perf_counter()
        result = await client.login(email, "wrong-guess-123")
        elapsed = time.perf_counter() - started
        assert result["__typename"] == "InvalidCredentials", result
        return elapsed

    for i in range(3):  # warm up both paths: caches, connections, the decoy hash
        await timed(f"warm{i}@example.com")
    unknown: list[float] = []
    wrong: list[float] = []
    for i, email in enumerate(guesses):
        pair = [("unknown", f"ghost{i}@example.com"), ("wrong", email)]
        for kind, address in pair if i % 2 == 0 else reversed(pair):
            (unknown if kind == "unknown" else wrong).append(await timed(address))

    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.9 <= ratio <= 1.1, (
        f"median unknown {statistics.median(unknown) * 1000:.1f} ms, "
        f"median wrong {statistics.median(wrong) * 1000:.1f} ms, ratio {ratio:.3f}"
    )


async def test_p4_a_full_hashing_queue_refuses_logins_at_once_with_a_retryable_answer(
    client, services, make_customer, make_user
):
    user = await make_user(await make_customer(), "anna@example.com", PASSWORD)
    queue = services.passwords.queue
    with contextlib.ExitStack() as held:
        for _ in range(queue.workers + queue.max_waiting):
            held.enter_context(queue.admit())
        checks_before = services.passwords.stats.checks

        refused = await client.login("anna@example.com", PASSWORD)

        # A typed, retryable answer (not a 5xx), the same whoever asks (S3), with nothing checked or counted.
        assert refused["__typename"] == "TooManyAttempts", refused
        assert refused["retryAfterSeconds"] >= 1
        assert services.passwords.stats.checks == checks_before
        assert (await User.get(id=user.id)).failed_password_attempts == 0
        other = await client.login("nobody@example.com", PASSWORD)
        assert (other["__typename"], other["message"]) == (refused["__typename"], refused["message"])

    assert (await client.login("anna@example.com", PASSWORD))["__typename"] == "LoginSuccess"
    assert queue.admitted == 0
