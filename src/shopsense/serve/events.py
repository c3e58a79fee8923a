"""POST /events: validate every event first (all-or-nothing), pseudonymise, store, then update the
shopper's profile / session state and trending at once, so the next recommendation reflects it."""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from shopsense.serve.security import ApiError, read_key
from shopsense.types import EVENT_ALIASES, Event, EventType


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=200, description="the shop's own (raw) user id; pseudonymised")
    item_id: str | None = Field(None, min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=32, description="view, click, cart, purchase, rating, search (+ aliases)")
    value: float | None = None
    query: str | None = Field(None, max_length=1000)
    timestamp: float | str | None = Field(None, description="epoch seconds/ms or ISO 8601; default: now")
    session_id: str | None = Field(None, max_length=200)


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1)


def validate(batch: EventsIn, items: dict, max_n: int, pseudo: Any) -> list[Event]:
    from shopsense.ingest.schema import parse_timestamp

    if len(batch.events) > max_n:
        raise ApiError(413, "too_many_events", f"{len(batch.events)} events in one request (max {max_n})",
                       field="events", hint="split them into several requests")
    now, problems, out = time.time(), [], []
    for i, e in enumerate(batch.events):
        f = f"events.{i}"
        etype = EVENT_ALIASES.get(e.type.strip().lower())
        if etype is None:
            problems.append({"field": f"{f}.type", "problem": f"unknown event type {e.type!r}; use "
                                                              f"{[t.value for t in EventType]}"})
            continue
        if e.item_id is None and etype != "search":
            problems.append({"field": f"{f}.item_id", "problem": f"a {etype} event needs an item_id"})
            continue
        if e.item_id is not None and e.item_id not in items:
            problems.append({"field": f"{f}.item_id", "problem": f"unknown item {e.item_id!r}: post events only "
                                                                 "for items in the catalog"})
            continue
        if etype == "search" and not (e.query or "").strip():
            problems.append({"field": f"{f}.query", "problem": "a search event needs the query text"})
            continue
        if e.value is not None and not math.isfinite(e.value):
            problems.append({"field": f"{f}.value", "problem": "must be a finite number"})
            continue
        try:
            ts = now if e.timestamp is None else parse_timestamp(e.timestamp, now)
        except (ValueError, TypeError) as ex:
            problems.append({"field": f"{f}.timestamp", "problem": f"{ex}; use epoch seconds or ISO 8601"})
            continue
        out.append(Event(user_id=pseudo.user(e.user_id), item_id=e.item_id, type=EventType(etype), value=e.value,
                         query=e.query, timestamp=ts,
                         session_id=pseudo.session(e.session_id) if e.session_id else None))
    if problems:
        raise ApiError(422, "invalid_events", f"{problems[0]['field']}: {problems[0]['problem']}",
                       field=problems[0]["field"], hint="nothing was stored; fix these events and resend",
                       details=problems[:50])
    return out


def router() -> APIRouter:
    r = APIRouter(tags=["events"], dependencies=[Depends(read_key)])

    @r.post("/events", summary="Log shopper events (stored, profile + session updated at once)")
    def post_events(batch: EventsIn, request: Request) -> dict[str, Any]:
        st = request.app.state.shop
        eng = st.engine
        events = validate(batch, eng.items, st.settings.serve.max_events_per_request, st.pseudo)
        t0 = time.perf_counter()
        # a re-sent event is stored once and counted once; new ones go to the live log for other servers
        fresh = st.store.add_new_events(events, origin=st.sync.origin if st.sync else None)
        new = len(fresh)
        in_time = sorted(fresh, key=lambda e: e.timestamp)
        rows = [(e.user_id, e.item_id, e.type.value, e.timestamp) for e in in_time]
        st.book.apply(rows, lambda i: st.engine.items.get(i), live=True)
        eng.observe(rows)
        eng.observe_queries((e.user_id, e.query, e.item_id, e.type.value, e.timestamp) for e in in_time)
        with st.events_lock:
            st.events_accepted += len(events)
        return {"accepted": len(events), "stored_new": new, "applied_ms": round((time.perf_counter() - t0) * 1000, 2)}

    return r
