"""API keys, the request-size limit, timing/metrics middleware and clear error responses."""

from __future__ import annotations

import hmac
import json
import re
import time
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

_ID_SEG = re.compile(r"^/(recommend|users|items)/[^/]+")


def error_body(status: int, code: str, message: str, field: str | None = None, hint: str | None = None,
               details: list | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"status": status, "code": code, "message": message}
    if field:
        err["field"] = field
    if hint:
        err["hint"] = hint
    if details:
        err["details"] = details
    return {"error": err}


class ApiError(HTTPException):
    def __init__(self, status: int, code: str, message: str, field: str | None = None, hint: str | None = None,
                 details: list | None = None) -> None:
        super().__init__(status, message)
        self.body = error_body(status, code, message, field, hint, details)


def _match(given: str | None, keys: list) -> bool:
    if not given:
        return False
    secret = [getattr(k, "get_secret_value", lambda k=k: str(k))() for k in keys]
    return any(hmac.compare_digest(given.encode(), s.encode()) for s in secret)


def check_key(request: Request, role: str) -> None:
    cfg = request.app.state.shop.settings.serve
    given = request.headers.get("x-api-key")
    if role == "admin":
        if not cfg.admin_keys:
            raise ApiError(403, "admin_disabled", "admin endpoints are disabled",
                           hint="set serve.admin_keys (SHOPSENSE_SERVE__ADMIN_KEYS='[\"...\"]') to enable them")
        if not given:
            raise ApiError(401, "missing_key", "this endpoint needs an admin API key", field="X-API-Key",
                           hint="send it in the X-API-Key header")
        if not _match(given, cfg.admin_keys):
            raise ApiError(403, "wrong_key", "the X-API-Key is not an admin key", field="X-API-Key")
        return
    if not cfg.read_keys:
        return
    if not given:
        raise ApiError(401, "missing_key", "this endpoint needs an API key", field="X-API-Key",
                       hint="send a read or admin key in the X-API-Key header")
    if not (_match(given, cfg.read_keys) or _match(given, cfg.admin_keys)):
        raise ApiError(403, "wrong_key", "the X-API-Key is not valid", field="X-API-Key")


async def read_key(request: Request) -> None:  # async: no thread-pool hop per request
    check_key(request, "read")


def admin_key(request: Request) -> None:
    check_key(request, "admin")


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body, status_code=exc.status_code)


async def http_error_handler(request: Request, exc: HTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(exc.status_code, code, str(exc.detail)), status_code=exc.status_code)


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        if e.get("type") == "json_invalid":
            return JSONResponse(error_body(400, "invalid_json", "the request body is not valid JSON",
                                           hint=f"fix the JSON near position {loc[-1] if loc else '?'}"),
                                status_code=400)
        details.append({"field": ".".join(loc) or "body", "problem": e.get("msg", "invalid")})
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    return JSONResponse(error_body(422, "invalid_request", f"{first['field']}: {first['problem']}",
                                   field=first["field"], hint="see details; fix the fields and retry",
                                   details=details), status_code=422)


def route_name(scope: dict) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return path
    p = scope.get("path", "")
    if p.startswith("/static/"):
        return "/static"
    return _ID_SEG.sub(lambda m: f"/{m.group(1)}/{{id}}", p)


class LimitAndTime:
    """ASGI middleware: reject bodies over the limit with 413 (by Content-Length, or while streaming),
    and record each request's latency in the app's metrics."""

    def __init__(self, app: Any, max_bytes: int, metrics: Any) -> None:
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}
        limit = self.max_bytes

        async def send_wrapped(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            await send(msg)

        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    too_big = int(v) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send_wrapped, limit)
                    self.metrics.observe(route_name(scope), 413, (time.perf_counter() - t0) * 1000)
                    return
        seen = {"n": 0}

        async def receive_limited() -> dict:
            msg = await receive()
            if msg["type"] == "http.request":
                seen["n"] += len(msg.get("body", b""))
                if seen["n"] > limit:
                    raise _TooLarge()
            return msg

        try:
            await self.app(scope, receive_limited, send_wrapped)
        except _TooLarge:
            await self._reject(send_wrapped, limit)
        finally:
            self.metrics.observe(route_name(scope), status["code"], (time.perf_counter() - t0) * 1000)

    @staticmethod
    async def _reject(send: Any, limit: int) -> None:
        body = json.dumps(error_body(413, "body_too_large", f"the request body is larger than {limit} bytes",
                                     hint="send fewer events per request (see serve.max_body_bytes)")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
