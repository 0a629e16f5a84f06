"""An asyncio event loop on its own daemon thread, brought up by one coroutine.

The HTTP servers (network voices, `dyad serve`'s API) run aiohttp on a loop of
their own so the session's threads never wait on network I/O. Start-up is the same
for each: run the coroutine that binds the socket, report its error to the caller
(a busy port must end the command with one line, not hang it), then serve forever.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self, bring_up: Callable[[], Awaitable[None]], timeout_s: float = 20.0) -> BaseException | None:
        """Run `bring_up()` on the loop's thread and keep the loop running; the error it raised, else None."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(bring_up())
            except Exception as error:
                failure.append(error)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            return TimeoutError(f"not up within {timeout_s:g} s")
        return failure[0] if failure else None

    def stop(self, join_s: float) -> None:
        """Stop the loop (after whatever shutdown the caller ran on it) and wait for its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(join_s)
