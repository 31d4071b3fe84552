"""The bounded queue in front of password hashing (performance.md P4): its own threads, a limit on who
may wait for them, and an immediate "busy, come back in N seconds" past that limit.

Each argon2id hash holds 19 MiB and a core for ~25 ms. Unbounded, a login flood would queue thousands
of requests that each wait minutes, and hashing in more threads than cores only shares the same cores.
So `workers` hashes run at once (memory stays at workers x 19 MiB), `max_waiting` more logins may queue
behind them (at most a second or two of waiting), and the next one is told at once to retry later,
before it touches the database. The threads run at a lower CPU priority than the event loop: when the
machine is saturated, requests that need no hash (viewer, tokens) are served first and hashing takes
what is left, instead of every request queueing behind hashes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from gql_server import spans
from gql_server.limits import HASH_THREAD_NICENESS, HASH_TIME_SMOOTHING, INITIAL_SECONDS_PER_HASH

log = logging.getLogger(__name__)

T = TypeVar("T")


class HashQueueFull(Exception):
    """Too many logins already wait for a hash: answer "busy" now, retry after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"password hashing is saturated; retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class Admission:
    """A place in the queue, held from before the database work of a login until its hash is done."""

    def __init__(self, queue: HashQueue) -> None:
        self._queue = queue

    def __enter__(self) -> Admission:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self._queue.admitted -= 1


class HashQueue:
    """Runs blocking hash calls in `workers` dedicated threads; admits at most `max_waiting` more callers."""

    def __init__(
        self, workers: int, max_waiting: int, slots: asyncio.Semaphore | None = None, busy_pause: float | None = None
    ) -> None:
        """`slots`: the semaphore of `workers` places that callers wait on (one that reports its waiters,
        for metrics); a plain one by default. `busy_pause`: how long a refusal waits before it is answered
        (PASSWORD_BUSY_PAUSE_SECONDS, see `pause`)."""
        # None: no pause (a queue made on its own, in tests of the queue itself).
        self.busy_pause = busy_pause or 0.0
        self.workers = workers
        self.max_waiting = max_waiting
        self.admitted = 0
        self.running = 0
        self._slots = slots or asyncio.Semaphore(workers)
        self._executor: ThreadPoolExecutor | None = None
        # Wall time of one hash divided by the workers sharing the machine: the queue's drain rate.
        self._seconds_per_hash = INITIAL_SECONDS_PER_HASH

    def full(self) -> bool:
        """Whether the next caller would be refused: every hashing and waiting place is taken."""
        return self.admitted >= self.workers + self.max_waiting

    def admit(self) -> Admission:
        """Take a place, or raise HashQueueFull at once. Synchronous: no await between check and take."""
        if self.full():
            raise HashQueueFull(self.retry_after_seconds())
        self.admitted += 1
        return Admission(self)

    async def pause(self, retry_after_seconds: int) -> None:
        """Hold a refusal for `busy_pause` seconds (at most its retry-after) before it is answered (P4): a
        client that retries at once then sends one login a pause, not one per answer the loop can make, and
        a thousand such clients cost a thousand timers instead of the whole event loop."""
        await asyncio.sleep(min(self.busy_pause, retry_after_seconds))

    def retry_after_seconds(self) -> int:
        """When a retry is likely to find a place: the time the admitted callers take to drain, rounded up,
        plus up to as much again at random. Without the random part, every client refused in the same second
        would come back in the same instant, and the next burst would queue everyone behind it."""
        drain = max(1, math.ceil(self.admitted * self._seconds_per_hash))
        return drain + secrets.randbelow(drain + 1)

    async def run(self, call: Callable[..., T], *args: object) -> T:
        """Run `call(*args)` in a hashing thread once one of the `workers` slots is free."""
        queued = time.perf_counter()
        async with self._slots:
            self.running += 1
            started = time.perf_counter()
            # With tracing on, on the caller's span (password.hash, password.verify): its time less this is argon2's.
            spans.annotate("gql.password.queue_wait_ms", round((started - queued) * 1000, 1))
            try:
                return await asyncio.get_running_loop().run_in_executor(self._pool(), call, *args)
            finally:
                self.running -= 1
                took = (time.perf_counter() - started) / self.workers
                self._seconds_per_hash += HASH_TIME_SMOOTHING * (took - self._seconds_per_hash)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="password-hash", initializer=_lower_priority
            )
        return self._executor

    def close(self) -> None:
        """Let the threads end (when the app stops)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


def _lower_priority() -> None:
    # setpriority on a thread id changes that thread alone on Linux; elsewhere hashing keeps the
    # process's priority, which is correct, only less kind to other requests on a saturated machine.
    if not hasattr(os, "setpriority"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICENESS)
    except OSError:
        log.warning("could not lower the priority of the password-hashing threads", exc_info=True)
