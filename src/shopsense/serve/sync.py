"""Several server processes on one store (``serve.workers > 1``, or several hosts sharing a store).

Each process holds its own engine and profiles in memory, so what one process learns live — an event
posted to it, a shopper forgotten, a model reloaded — must reach the others. Every process appends
what it did to the store's live log (in the same transaction as the events) and a background thread
replays what *other* processes appended, every ``serve.sync_interval_ms``. An event posted to one
worker is therefore in every worker's profile within about one interval (the event-to-visible
benchmark measures it across workers). Hand-written: it is ~100 lines over the store we already
have; a message broker (Redis streams, Kafka) would be a new service to run for the same job.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class LiveSync:
    def __init__(self, state: Any, start_seq: int, interval_s: float, retention_s: float) -> None:
        self.state = state
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.seq = start_seq  # taken before the dataset was read, so nothing in between is missed
        self.interval_s = interval_s
        self.retention_s = retention_s
        self.replayed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_trim = 0.0

    def start(self) -> None:
        if self.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="shopsense-live-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception as e:  # noqa: BLE001 - keep serving; the next poll retries
                log.warning("live sync failed: %s", e)

    def poll(self) -> int:
        """Replay the other processes' log entries since the last poll; returns how many."""
        with self._lock:
            st = self.state
            rows = st.store.live_since(self.seq)
            if not rows:
                self._trim()
                return 0
            self.seq = rows[-1][0]
            theirs = [r for r in rows if r[1] != self.origin]
            logged = [r for r in theirs if r[2] == "event"]
            events = [(u, i, t, ts) for _, _, _, u, i, t, ts, _ in logged]
            if events:
                eng = st.engine
                st.book.apply(events, lambda i: eng.items.get(i), live=True)
                eng.observe(events)
                eng.observe_queries((u, q, i, t, ts) for _, _, _, u, i, t, ts, q in logged)
            for _, _, kind, user, *_ in theirs:
                if kind == "forget" and user:
                    st.book.forget(user)
                    st.engine.forget_searches(user)
                elif kind == "reload":
                    from shopsense.rank.build import current_folder, load_engine

                    folder = current_folder(st.settings.path("serving"))
                    if folder is not None:
                        st.reload(lambda: load_engine(st.settings, folder))
            self.replayed += len(theirs)
            self._trim()
            return len(theirs)

    def _trim(self) -> None:
        now = time.time()
        if now - self._last_trim > 60:
            self._last_trim = now
            self.state.store.trim_live(self.retention_s)
