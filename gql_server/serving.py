"""How `gql-server serve` runs uvicorn, in one place: the benchmark's baseline app (bench/) runs the same way.

S38: from SIGTERM (or SIGINT) on, new connections are refused at once; requests in flight finish. uvicorn
alone does not quite do that. A server process notices the signal at its next tick (up to 0.1 s later) and
only then stops listening. With `--workers N` the supervising process holds the listening socket too and
reacts every 0.5 s; even after every worker has stopped accepting, the kernel keeps completing handshakes
on the supervisor's copy, and those clients hang until the supervisor exits and they are reset. Here:

- every server process closes its listeners from the signal handler itself (on the event loop's next
  turn), before uvicorn's graceful shutdown begins;
- the supervisor, in its signal handler, closes its copy of the socket and passes SIGTERM on to the
  workers at once, so that the last copy of the listener is gone within milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

UVICORN_OPTIONS: dict[str, Any] = {
    # X-Forwarded-For is honoured by the app itself, and only from TRUSTED_PROXIES.
    "proxy_headers": False,
    # uvloop and httptools, which uvicorn[standard] installs ("auto" picks them, and falls back to asyncio and
    # h11 where they cannot be installed). P2 on one core: viewer 934/s with asyncio + h11, 1302/s with these.
    "loop": "auto",
    "http": "auto",
}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which stops listening the moment a stop signal arrives (S38), then shuts down as usual."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._given_sockets: list[socket.socket] = []

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve (on `sockets`, a worker's share of the supervisor's listener, if given) until stopped."""
        self._loop = asyncio.get_running_loop()
        self._given_sockets = list(sockets or [])
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start (the app's lifespan, then listening), unless a stop signal came first."""
        if self.should_exit:
            # Stopped while loading the app: nothing was started, so nothing needs shutting down.
            return
        try:
            await super().startup(sockets)
        except (OSError, ValueError):
            if not (self.should_exit and any(sock.fileno() == -1 for sock in self._given_sockets)):
                raise
            # Stopped while the app was starting, and handle_exit closed the listener meanwhile: never
            # served; `started` stays False, so the app's shutdown is ours to run.
            await self.lifespan.shutdown()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's handler (the shutdown begins at its next tick), and the listeners close at once."""
        super().handle_exit(sig, frame)
        if self.started:
            if self._loop is not None and not self._loop.is_closed():
                # A signal handler may run in the middle of the loop's own work: the closing is its next callback.
                self._loop.call_soon_threadsafe(self._stop_listening)
        elif not hasattr(self, "servers"):
            # Still loading or starting the app (the loop may be busy for a while): this process's copy of
            # the supervisor's listener goes now. No loop watches it yet, so closing it here is safe.
            for sock in self._given_sockets:
                sock.close()
        # Otherwise the listeners are being created at this very moment: uvicorn's shutdown, which comes
        # right after (the signal is already noted), closes them.

    def _stop_listening(self) -> None:
        # The same steps as the start of uvicorn's shutdown, which then finds them done (both are idempotent).
        for server in getattr(self, "servers", ()):
            server.close()
        for sock in self._given_sockets:
            sock.close()


class DrainingWorker(multiprocess.Process):
    """A worker process of the supervisor, serving with DrainingServer."""

    @property
    def server(self) -> uvicorn.Server:
        """The worker's server (made in the worker process, where it runs)."""
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class DrainingSupervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor of `--workers N`, which lets go of the listener and stops its workers at the signal."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self._stopping = False
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._stop_at_once)

    def _stop_at_once(self, sig: int, _frame: FrameType | None) -> None:
        # uvicorn's loop then ends at once; terminate_all (below) logs the signal, signals the workers again
        # (harmless: only a second SIGINT would cut a worker's graceful shutdown short) and waits for them.
        self.signal_queue.append(sig)
        if self._stopping:
            return
        self._stopping = True
        # Set first: a worker that stops now must not be replaced (on the listener about to be closed).
        self.should_exit.set()
        for sock in self.sockets:
            sock.close()
        for worker in self.processes:
            # SIGTERM whichever signal came: a worker that got SIGINT from the terminal too must not see a
            # second SIGINT, which uvicorn takes as "force quit".
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    def handle_signals(self) -> None:
        """uvicorn's signal handling; once stopping, only the stop signals (SIGHUP, SIGTTIN would start workers)."""
        if self._stopping:
            self.signal_queue[:] = [sig for sig in self.signal_queue if sig in STOP_SIGNALS]
        super().handle_signals()

    def terminate_all(self) -> None:
        """Log the stop signal (uvicorn's loop ended before its turn came), then signal every worker."""
        self.handle_signals()
        super().terminate_all()


def serve(config: uvicorn.Config) -> None:
    """Run the service as `uvicorn.run` would (one process, or a supervisor and `config.workers` workers)."""
    if config.workers > 1:
        # uvicorn's supervisor makes its workers from the module's `Process` class (at start, on a restart
        # after a crash, on SIGHUP and SIGTTIN): this process only supervises, so the swap reaches them all.
        if not isinstance(getattr(multiprocess, "Process", None), type):
            raise RuntimeError("uvicorn's supervisor changed: gql_server/serving.py needs a review")
        multiprocess.Process = DrainingWorker  # type: ignore[misc]
        DrainingSupervisor(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = DrainingServer(config)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises SIGINT once it has shut down gracefully; `uvicorn.run` ends quietly then, so do we.
        pass
    if not server.started and not server.should_exit:
        sys.exit(STARTUP_FAILURE)
