"""Everything one app instance holds (created by `create_app`, stored on `app.state.shop`).

The engine (models) is swapped atomically: a new one is built or loaded off to the side, then the
reference is replaced under `swap_lock`; a request reads `state.engine` once and uses that object
throughout, so it never sees half of one model and half of another. Profiles (session state) live
beside the engine and survive swaps."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from shopsense.rank.engine import ServingEngine
from shopsense.rank.profile import ProfileBook
from shopsense.serve.metrics import Metrics


class AppState:
    def __init__(self, settings: Any, engine: ServingEngine, store: Any, book: ProfileBook,
                 pseudo: Any) -> None:
        self.settings = settings
        self._engine = engine
        self.store = store
        self.book = book
        self.pseudo = pseudo
        self.metrics = Metrics()
        self.swap_lock = threading.Lock()
        self.swaps = 0
        self.started = time.time()
        self.events_accepted = 0
        self.events_lock = threading.Lock()
        self.sync: Any = None  # serve.sync.LiveSync, set by create_app
        self.qbatch: Any = None  # serve.qbatch.QueryBatcher when serve.query_batch > 1

    @property
    def engine(self) -> ServingEngine:
        return self._engine

    def swap(self, new: ServingEngine) -> ServingEngine:
        with self.swap_lock:
            old, self._engine = self._engine, new
            self.swaps += 1
        return old

    def reload(self, loader: Callable[[], ServingEngine]) -> ServingEngine:
        """Build/load the new engine *outside* the lock (requests keep being served), then swap."""
        new = loader()
        # what was logged since it was built (an event posted between this read and the swap reaches the old
        # engine's intent only: the next reload or search-index learns it)
        new.learn_query_logs(self.store.load_dataset())
        new.warm_up()  # before it takes traffic
        self.swap(new)
        import gc

        gc.freeze()  # the new engine's objects join the frozen heap (see serve.app._freeze_heap)
        return new
