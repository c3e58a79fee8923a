"""Batched query encoding: concurrent requests' queries are encoded together, results go to the right
request, failures reach every waiter, and /search answers the same with and without batching."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
from shopsense.serve.qbatch import QueryBatcher


class RecordingEncoder:
    """Encodes a text as [len(text), hash] and records each batch it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.gate = threading.Event()

    def encode(self, texts):
        self.gate.wait(5)  # hold the first batch until the test has queued more requests
        self.batches.append(list(texts))
        if self.fail:
            raise RuntimeError("encoder broke")
        return np.array([[len(t), sum(map(ord, t))] for t in texts], np.float32)


def test_waiting_queries_share_a_batch_and_get_their_own_vectors():
    enc = RecordingEncoder()
    qb = QueryBatcher(max_batch=16)

    async def main():
        first = asyncio.create_task(qb.encode("drill", enc))
        await asyncio.sleep(0.05)  # the first batch ("drill" alone) is running in the encoder thread
        rest = [asyncio.create_task(qb.encode(t, enc)) for t in ["saw", "hammer", "saw", "nails"]]
        await asyncio.sleep(0.05)
        enc.gate.set()
        return await first, await asyncio.gather(*rest)

    v_first, vs = asyncio.run(main())
    assert enc.batches == [["drill"], ["saw", "hammer", "nails"]]  # one batch for everything that waited
    assert v_first.tolist() == [5, sum(map(ord, "drill"))]
    for t, v in zip(["saw", "hammer", "saw", "nails"], vs):
        assert v.tolist() == [len(t), sum(map(ord, t))]
    assert qb.stats() == {"batches": 2, "queries": 4, "mean_batch": 2.0}
    qb.close()


def test_batches_are_capped():
    enc = RecordingEncoder()
    enc.gate.set()
    qb = QueryBatcher(max_batch=2)

    async def main():
        return await asyncio.gather(*[qb.encode(f"q{i}", enc) for i in range(5)])

    asyncio.run(main())
    assert [len(b) for b in enc.batches] == [2, 2, 1]
    qb.close()


def test_an_encoder_error_reaches_every_waiter_and_the_batcher_recovers():
    bad, good = RecordingEncoder(fail=True), RecordingEncoder()
    bad.gate.set()
    good.gate.set()
    qb = QueryBatcher()

    async def main():
        res = await asyncio.gather(qb.encode("a", bad), qb.encode("b", bad), return_exceptions=True)
        return res, await qb.encode("c", good)

    res, v = asyncio.run(main())
    assert all(isinstance(r, RuntimeError) for r in res)
    assert v.tolist() == [1, ord("c")]
    qb.close()


def test_search_endpoint_same_results_with_and_without_batching(served):
    from fastapi.testclient import TestClient

    from shopsense.serve.app import create_app

    settings, engine, store = served
    answers, stats = {}, {}
    for batch in (0, 16):
        engine.sources.search_engine._qcache.clear()  # else the second app finds every vector cached
        s = settings.model_copy(update={"serve": settings.serve.model_copy(update={"query_batch": batch})})
        with TestClient(create_app(s, engine=engine, store=store)) as c:
            answers[batch] = [c.get("/search", params={"q": q, "n": 5}).json()["results"]
                              for q in ("water bottle", "running shoes under 50", "usb cable")]
            stats[batch] = c.get("/metrics").json()["query_batching"]
    assert answers[0] == answers[16] and any(answers[0])
    assert stats[0] is None and stats[16]["queries"] >= 1  # the queries went through the batcher
