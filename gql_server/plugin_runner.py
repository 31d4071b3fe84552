"""Plugin method calls off the event loop, each bounded by a timeout that is a true bound (S37).

A method plugin's `begin_enrollment`, `send_code` and `verify` are coroutines, but nothing stops one
from blocking (`time.sleep`, a synchronous HTTP client, a busy loop). Run on the service's event loop,
such a call would stall every other user's request, and `asyncio.timeout` could not even interrupt it.
So each call runs on one of a few threads of the runner's own, each with an event loop of its own, and the
request awaits it under a timeout: when the time is up, the request answers at once and the plugin's
task is cancelled on its own loop. A thread still blocked by a call that timed out is given no new work
until that call returns; new work goes to the least busy free thread, and a new thread is started while
every thread is busy, up to PLUGIN_THREADS (gql_server/limits.py).

Objects bound to the service's loop must not be used from a plugin's loop: the mailer handed to
`send_code` is wrapped in `MainLoopMailer`, which runs each send on the service's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from gql_server.limits import PLUGIN_THREADS
from gql_server.plugin_api import Mailer

log = logging.getLogger(__name__)

T = TypeVar("T")


class NoPluginThread(Exception):
    """No thread may take the call (every one is blocked by a call that timed out, or the runner is
    closed): the call is not made, and counts as a failed one."""


class _PluginThread:
    """One thread running one event loop, on which plugin coroutines run."""

    def __init__(self, number: int) -> None:
        self.loop = asyncio.new_event_loop()
        # Calls submitted and not yet ended on this thread (a cancelled call ends when its code returns).
        self.running = 0
        # A call of this thread timed out while it still ran: it may be blocking the loop.
        self.stuck = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=f"plugin-{number}", daemon=True)
        self._thread.start()

    def submit(self, make: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Start `make()` on this thread's loop."""
        with self._lock:
            self.running += 1
        return asyncio.run_coroutine_threadsafe(self._call(make), self.loop)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            # Called here, not on the service's loop: even the synchronous part of the plugin runs on this
            # thread, and so does a method written without `async` (its answer is there at once).
            answer: Any = make()
            return cast(T, await answer if inspect.isawaitable(answer) else answer)
        finally:
            with self._lock:
                self.running -= 1
                if self.running == 0:
                    self.stuck = False

    def mark_stuck(self) -> None:
        """A call timed out: no new work for this thread until everything on it has returned."""
        with self._lock:
            if self.running:
                self.stuck = True

    @property
    def free(self) -> bool:
        """Whether new work may go to this thread."""
        with self._lock:
            return not self.stuck

    def stop(self) -> None:
        """End the loop once the thread is free to (at once, or when a blocked call returns)."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            # What is left was cancelled by its caller or outlived the service: end it and close the loop.
            leftovers = asyncio.all_tasks(self.loop)
            for task in leftovers:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


class PluginRunner:
    """Runs plugin coroutines on the runner's threads, each call bounded by `timeout` seconds."""

    def __init__(self, timeout: float, max_threads: int = PLUGIN_THREADS) -> None:
        self.timeout = timeout
        self._max_threads = max_threads
        self._threads: list[_PluginThread] = []
        self._numbers = itertools.count(1)
        self._closed = False

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """`make()` on a plugin thread (awaited when it is a coroutine: methods may be written with or
        without `async`); TimeoutError after `timeout` seconds, whatever the plugin does.

        Cancelling the caller (or the timeout) cancels the plugin's task on its loop.
        """
        thread = self._pick()
        future = thread.submit(make)
        try:
            async with asyncio.timeout(self.timeout):
                return await asyncio.wrap_future(future)
        except BaseException:
            # Timed out or cancelled: the plugin's task is being cancelled, but it may be blocked.
            thread.mark_stuck()
            raise

    def _pick(self) -> _PluginThread:
        if self._closed:
            raise NoPluginThread("the plugin runner is closed (the service is stopping)")
        free = [t for t in self._threads if t.free]
        idle = min(free, key=lambda t: t.running, default=None)
        if (idle is None or idle.running) and len(self._threads) < self._max_threads:
            idle = _PluginThread(next(self._numbers))
            self._threads.append(idle)
        if idle is None:
            raise NoPluginThread(f"all {self._max_threads} plugin threads are blocked by calls that timed out")
        return idle

    @property
    def threads(self) -> int:
        """Threads started so far (for tests and metrics)."""
        return len(self._threads)

    def close(self) -> None:
        """Stop the threads' loops (a thread blocked in a plugin ends when the plugin returns)."""
        self._closed = True
        for thread in self._threads:
            thread.stop()
        self._threads.clear()


class MainLoopMailer:
    """The core's mailer as a plugin on another loop sees it: each send runs on the service's own loop,
    where the mailer's database and SMTP connections live, and is cancelled with the plugin's call."""

    def __init__(self, mailer: Mailer, loop: asyncio.AbstractEventLoop) -> None:
        self._mailer = mailer
        self._loop = loop

    async def send(self, template: str, *, to: str, locale: str, **values: object) -> None:
        """Render a template (fi/en) and deliver it through the `deliver_email` hook, on the service's loop."""
        sending: Any = self._mailer.send(template, to=to, locale=locale, **values)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sending, self._loop))
