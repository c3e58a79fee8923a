"""Read endpoints (search, recommendations, item pages, trending, profiles), health, metrics, admin."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from shopsense.errors import DataError
from shopsense.serve.security import ApiError, admin_key, read_key

log = logging.getLogger(__name__)


def _n(request: Request, n: int) -> int:
    mx = request.app.state.shop.settings.serve.max_results
    if n > mx:
        raise ApiError(422, "invalid_request", f"n: at most {mx} results per request", field="n")
    return n


def _item(eng: Any, item_id: str) -> None:
    if item_id not in eng.items:
        raise ApiError(404, "unknown_item", f"unknown item {item_id!r}", field="item_id",
                       hint="use an item_id from the catalog (see /search)")


class _FastJSON(JSONResponse):
    """JSON rendered by orjson: a /search answer (~11 kB with facets and explanations) took 0.12 ms with
    json.dumps and 0.03 ms with orjson on the benchmark machine. NaN and infinities become null (json.dumps
    would refuse them); numpy scalars and arrays are written as numbers. Without orjson: json.dumps."""

    def render(self, content: Any) -> bytes:
        try:
            import orjson
        except ImportError:  # the 'serve' extra brings it; the stdlib still answers without it
            return super().render(content)
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def _json(obj: dict[str, Any]) -> JSONResponse:
    """Hot endpoints render their dicts directly: FastAPI's generic encoder costs ~1.5 ms per response."""
    return _FastJSON(obj)


async def _query_vector(st: Any, eng: Any, q: str):
    """The query's vector through the batcher (see serve.qbatch), or None to let the engine encode it
    (no batcher, no vector stage, or the batch failed: the engine's own path and fallbacks take over)."""
    se = eng.sources.search_engine
    if st.qbatch is None or se is None:
        return None
    try:
        text = se.dense_query(q)
    except DataError:
        raise  # bad input: a 422 for the caller, as engine.search would raise it
    except Exception:  # noqa: BLE001 - the engine's own fallbacks (title match) answer instead
        log.warning("query understanding failed before batching; the engine handles the request", exc_info=True)
        return None
    if text is None:
        return None
    qv = se.cached_query_vector(text)
    if qv is None:
        try:
            if se.tokens is not None:  # the re-ranker reads the query's token vectors: the same pass gives them
                qv, toks = await st.qbatch.encode(text, se.query_encoder_with_tokens)
                se.remember_query_tokens(text, toks)
            else:
                qv = await st.qbatch.encode(text, se.query_encoder)
        except Exception:  # noqa: BLE001 - search still answers; the engine encodes (or falls back)
            log.warning("batched query encoding failed; encoding in the request", exc_info=True)
            return None
        se.remember_query_vector(text, qv)
    return qv


def read_router() -> APIRouter:
    """The read endpoints are `async def` on purpose: their work is CPU-bound Python that holds the GIL,
    so running them in FastAPI's thread pool only adds a thread hop and makes 16 concurrent requests
    fight for the GIL (unfair: a few wait very long — the p99 tail). On the event loop they run one
    after another in arrival order. Endpoints that wait on I/O (POST /events, admin) stay in threads."""
    r = APIRouter(dependencies=[Depends(read_key)], default_response_class=JSONResponse)

    @r.get("/search", tags=["search"], summary="Hybrid product search, personalised with the user's profile")
    async def search(request: Request, q: str = Query(min_length=1, max_length=1000, description="what the shopper typed"),
               n: int = Query(10, ge=1), user: str | None = Query(None, max_length=200),
               category: list[str] = Query([]), brand: list[str] = Query([]),
               price_min: float | None = Query(None, ge=0), price_max: float | None = Query(None, ge=0),
               in_stock: bool = False, facets: bool = True) -> JSONResponse:
        st = request.app.state.shop
        n = _n(request, n)
        if len(q) > st.settings.serve.max_query_chars:
            raise ApiError(422, "invalid_request", f"q: longer than {st.settings.serve.max_query_chars} chars", field="q")
        f = {k: v for k, v in {"category": category, "brand": brand, "price_min": price_min,
                               "price_max": price_max, "in_stock": in_stock}.items() if v}
        prof = st.book.get(st.pseudo.user(user)) if user else None
        eng = st.engine  # read once: a model swap mid-request must not mix two engines
        try:
            qv = await _query_vector(st, eng, q)
            return _json(eng.search(q, prof, n, f or None, facets, qv))
        except DataError as e:
            raise ApiError(422, "invalid_request", str(e), field=e.field) from None

    @r.get("/recommend/{user}", tags=["recommend"], summary="Personal recommendations (any user id; cold start ok)")
    async def recommend(request: Request, user: str, n: int = Query(10, ge=1)) -> JSONResponse:
        st = request.app.state.shop
        key = st.pseudo.user(user)
        prof = st.book.get(key)
        eng = st.engine
        return _json({"user": user, "known": prof is not None, "engine": eng.version,
                      "results": eng.recommend(key, prof, _n(request, n))})

    @r.get("/items/{item_id}", tags=["items"], summary="One catalog item")
    async def item(request: Request, item_id: str) -> dict[str, Any]:
        eng = request.app.state.shop.engine
        _item(eng, item_id)
        return eng.items[item_id].model_dump()

    @r.get("/items/{item_id}/similar", tags=["items"], summary="Items like this one")
    async def similar(request: Request, item_id: str, n: int = Query(10, ge=1)) -> JSONResponse:
        eng = request.app.state.shop.engine
        _item(eng, item_id)
        return _json({"item_id": item_id, "results": eng.similar(item_id, _n(request, n))})

    @r.get("/items/{item_id}/bought-together", tags=["items"], summary="Often bought together with this one")
    async def bought_together(request: Request, item_id: str, n: int = Query(10, ge=1)) -> JSONResponse:
        eng = request.app.state.shop.engine
        _item(eng, item_id)
        return _json({"item_id": item_id, "results": eng.bought_together(item_id, _n(request, n))})

    @r.get("/trending", tags=["recommend"], summary="Trending now (optionally in one category)")
    async def trending(request: Request, n: int = Query(10, ge=1), category: str | None = Query(None, max_length=500)
                 ) -> JSONResponse:
        return _json({"category": category,
                      "results": request.app.state.shop.engine.trending(_n(request, n), category)})

    @r.get("/users/{user}/profile", tags=["users"], summary="The shopper's category / brand / price affinities")
    async def profile(request: Request, user: str) -> dict[str, Any]:
        st = request.app.state.shop
        prof = st.book.get(st.pseudo.user(user))
        if prof is None:
            raise ApiError(404, "unknown_user", f"no events for user {user!r} yet", field="user",
                           hint="POST /events for this user first")
        return {"user": user, **prof.to_dict()}

    @r.get("/metrics", tags=["ops"], summary="Latency histograms per route (JSON, or ?format=prometheus)")
    def metrics(request: Request, format: str = Query("json", pattern="^(json|prometheus)$")) -> Any:
        st = request.app.state.shop
        if format == "prometheus":
            return PlainTextResponse(st.metrics.prometheus())
        return {"routes": st.metrics.snapshot(), "events_accepted": st.events_accepted,
                "source_errors": dict(st.engine.sources.errors), "swaps": st.swaps,
                "query_batching": st.qbatch.stats() if st.qbatch is not None else None}

    return r


def open_router() -> APIRouter:
    r = APIRouter()

    @r.get("/health", tags=["ops"], summary="Liveness + what is loaded")
    def health(request: Request) -> dict[str, Any]:
        st = request.app.state.shop
        eng = st.engine
        return {"status": "ok", "engine": eng.version, "items": len(eng.items), "ranker": eng.ranker.name,
                "sources": sorted(eng.sources.models) + (["search"] if eng.sources.search_engine else []),
                "profiles": len(st.book), "swaps": st.swaps, "uptime_s": round(time.time() - st.started, 1),
                "process": os.getpid()}

    return r


def admin_router() -> APIRouter:
    r = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_key)])

    @r.post("/reload", summary="Swap in the engine saved on disk (after `shopsense retrain`), atomically")
    def reload(request: Request) -> dict[str, Any]:
        st = request.app.state.shop
        from shopsense.rank.build import current_folder, load_engine

        folder = current_folder(st.settings.path("serving"))
        if folder is None:
            raise ApiError(409, "nothing_to_load", "no saved engine under data_dir/serving",
                           hint="run `shopsense retrain` first")
        old = st.engine
        new = st.reload(lambda: load_engine(st.settings, folder))
        if st.sync:
            st.store.log_live(st.sync.origin, "reload")  # the other server processes reload too
        return {"from": old.version, "to": new.version, "swaps": st.swaps}

    @r.delete("/users/{user}", summary="Erase a shopper: stored events and the live profile")
    def forget(request: Request, user: str) -> dict[str, Any]:
        st = request.app.state.shop
        key = st.pseudo.user(user)
        n = st.store.delete_user(key)
        had = st.book.forget(key)
        st.engine.forget_searches(key)
        if st.sync:
            st.store.log_live(st.sync.origin, "forget", key)  # and from the other server processes' memory
        return {"events_deleted": n, "profile_dropped": had}

    return r
