"""Encode the queries of concurrent /search requests in one batch.

The query encoder is the biggest part of a search (MiniLM through ONNX Runtime: ~5 ms of ~9 ms on one
core of the benchmark machine). Encoding several short queries at once costs less per query (measured
here: 5.4 ms for one, 7.8 ms for two, 12.7 ms for four, 26 ms for eight), so under load a worker
encodes whatever queries are waiting together. There is no waiting window: the first query starts
a batch at once (no added latency when idle); queries that arrive while it runs form the next
batch. The encoder runs in one helper thread — ONNX Runtime releases the GIL, so the event loop keeps
parsing requests and finishing other searches meanwhile.

Batching is our own serving idea (there is no library for this inside one asyncio process that
fits), kept small: a dict of pending texts and one drain task.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class QueryBatcher:
    def __init__(self, max_batch: int = 16) -> None:
        self.max_batch = max_batch
        self._pending: dict[tuple[int, str], list[asyncio.Future]] = {}
        self._encoders: dict[int, Any] = {}
        self._running = False
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="query-encoder")
        self.batches = 0
        self.encoded = 0

    async def encode(self, text: str, encoder: Any) -> np.ndarray:
        """The vector of `text` from `encoder` (anything with `.encode(list_of_texts)`), batched with the
        other requests' queries that are waiting. Identical texts waiting together are encoded once."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        key = (id(encoder), text)
        self._encoders[id(encoder)] = encoder
        self._pending.setdefault(key, []).append(fut)
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                # one encoder per batch (after a model swap, the old engine's queries go first)
                enc_id = next(iter(self._pending))[0]
                keys = [k for k in self._pending if k[0] == enc_id][: self.max_batch]
                waiting = [self._pending.pop(k) for k in keys]
                texts = [k[1] for k in keys]
                try:
                    vecs = await loop.run_in_executor(self._pool, self._encoders[enc_id].encode, texts)
                except Exception as e:  # noqa: BLE001 - every waiting request gets the error
                    for futs in waiting:
                        for f in futs:
                            if not f.done():
                                f.set_exception(e)
                    continue
                self.batches += 1
                self.encoded += len(texts)
                for futs, v in zip(waiting, vecs):
                    for f in futs:
                        if not f.done():
                            f.set_result(v)
            self._encoders.clear()  # nothing pending: drop references to (possibly swapped-out) encoders
        finally:
            self._running = False

    def stats(self) -> dict[str, Any]:
        return {"batches": self.batches, "queries": self.encoded,
                "mean_batch": round(self.encoded / self.batches, 2) if self.batches else 0.0}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
