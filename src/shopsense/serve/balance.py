"""Keep the keep-alive connections spread evenly over the worker processes.

With ``serve.workers > 1`` every worker listens on its own SO_REUSEPORT socket and the kernel picks a
worker for each *new* connection by a hash of its addresses. A keep-alive connection then stays with
that worker for good, and a hash over 16 connections rarely splits them 8/8: wrk's 16 connections
landed 10/6, 9/7 and 11/5 on the benchmark box (Linux keeps the same split run after run, the ports
being sequential). In a closed loop each worker serves its own connections one after another, so the
worker with 11 keeps 11 requests queued while the other, with 5, has spare time — the busier worker's
queue sets the p99 (measured at ~210 QPS offered: 93 % vs 47 % CPU, /search p99 51–60 ms).

No library rebalances established connections between uvicorn processes (a load balancer in front does
it per request; a single-process server has nothing to balance), so this is our own small piece: the
workers publish their open-connection counts in a shared array, and a worker holding more than its
share (ceil(total / workers)) answers one request with ``Connection: close``. The client reconnects
(HTTP/1.1 clients do that by themselves: wrk, httpx, browsers, proxies), the kernel hashes the new
connection afresh, and after a few such closes the split is even. A worker closes at most one
connection per `min_interval_s`, so two workers never shed at once on stale counts for long, and a
balanced server sends no extra header at all.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class ConnectionBalancer:
    """ASGI middleware of one worker: `counts` is an array shared by all workers (one int slot each),
    `slot` this worker's index; `connections()` returns how many connections this worker holds now
    (uvicorn's ``server.server_state.connections``; set once the server exists)."""

    def __init__(self, app: Any, counts: Any, slot: int, min_interval_s: float = 0.1) -> None:
        self.app = app
        self.counts = counts
        self.slot = slot
        self.min_interval_s = min_interval_s
        self.connections: Callable[[], int] = lambda: 0
        self.shed = 0  # connections this worker asked its clients to reopen
        self._last = 0.0

    def publish(self) -> int:
        mine = self.connections()
        self.counts[self.slot] = mine
        return mine

    def over_share(self) -> bool:
        """True when this worker holds more connections than its even share and may shed one now."""
        mine = self.publish()
        share = -(-sum(self.counts) // len(self.counts))  # ceil: 17 connections over 2 workers = 9 each
        now = time.monotonic()
        if mine <= share or now - self._last < self.min_interval_s:
            return False
        self._last = now
        self.shed += 1
        return True

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or not self.over_share():
            await self.app(scope, receive, send)
            return

        async def send_closing(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)

    def start_publisher(self, every_s: float = 0.05) -> threading.Thread:
        """Refresh this worker's count in the background too, so a worker that gets no requests (its
        connections idle or gone) does not leave a stale count that makes the others shed."""

        def loop() -> None:
            while True:
                self.publish()
                time.sleep(every_s)

        t = threading.Thread(target=loop, name="connection-count", daemon=True)
        t.start()
        return t
