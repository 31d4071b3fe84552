"""The P1 baseline: raw argon2id verifications per second on one core, with the service's parameters.

Run pinned to the server's core (`taskset`), in one thread: the physical limit a login cannot beat.
"""

from __future__ import annotations

import argparse
import json
import time

from argon2 import PasswordHasher, Type

from gql_server.limits import ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, ARGON2_TIME_COST


def verify_rate(seconds: float) -> float:
    """Verifications per second of a correct password, measured for about `seconds`."""
    hasher = PasswordHasher(
        time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM, type=Type.ID
    )
    stored = hasher.hash("correct horse battery staple")
    hasher.verify(stored, "correct horse battery staple")  # warm the allocator once
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        hasher.verify(stored, "correct horse battery staple")
        count += 1
    return count / elapsed


def main() -> None:
    """Print {"rate": verifications per second} as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps({"rate": verify_rate(args.seconds)}))


if __name__ == "__main__":
    main()
