"""`serve.workers > 1`: one SO_REUSEPORT socket per worker process, so the kernel spreads connections."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from shopsense.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def pid_app():
    """A tiny app factory for the supervisor test: answers with the process id that served it."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/pid")
    async def pid() -> dict:
        return {"pid": os.getpid()}

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _supervisor(port: int) -> subprocess.Popen:
    """`run_workers` with two workers of `pid_app` on `port`, in a process of its own (stop: SIGTERM)."""
    code = ("from shopsense.serve.workers import run_workers; "
            f"run_workers('tests.serve.test_workers:pid_app', '127.0.0.1', {port}, 2)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def test_worker_socket_carries_tcp_protocol_so_asyncio_turns_nagle_off():
    """asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; uvicorn's own worker
    socket has protocol 0, which left Nagle on (~40 ms stalls)."""
    from shopsense.serve.workers import listen_socket

    with listen_socket("127.0.0.1", 0, reuse_port=True) as s:
        assert s.proto == socket.IPPROTO_TCP
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1


def test_port_in_use_is_a_clear_error():
    from shopsense.serve.workers import run_workers

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match="already in use"):
            run_workers("tests.serve.test_workers:pid_app", "127.0.0.1", busy.getsockname()[1], 2)


def test_connections_spread_over_workers_and_sigterm_stops_them():
    port = _free_port()
    sup = _supervisor(port)
    clients = []
    try:
        deadline = time.time() + 60
        pids: Counter = Counter()
        while time.time() < deadline:
            try:
                # 16 keep-alive connections, as wrk -c16 opens them: each is served by one worker for good
                clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) for _ in range(16)]
                pids = Counter(c.get("/pid").json()["pid"] for c in clients)
                if len(pids) == 2:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
            for c in clients:
                c.close()
            clients = []
            time.sleep(0.3)
        assert len(pids) == 2, f"connections did not reach both workers: {pids}"
        # the kernel hashes connections over the two sockets: both workers hold several
        # (P(a worker gets fewer than 2 of 16) ≈ 0.05 %)
        assert min(pids.values()) >= 2, pids
        for c in clients:  # a connection stays with its worker
            assert c.get("/pid").json()["pid"] in pids
    finally:
        for c in clients:
            c.close()
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=40) == 0
    for pid in pids:  # the workers are gone too
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_keep_alive_connections_end_up_evenly_split():
    """The kernel's hash rarely splits 16 keep-alive connections 8/8 (wrk's landed 10/6 and 11/5);
    a worker over its share asks a client to reconnect until the split is even."""
    port = _free_port()
    sup = _supervisor(port)
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) for _ in range(16)]
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # both workers up
            try:
                if len({c.get("/pid").json()["pid"] for c in clients}) == 2:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        splits = []
        for _ in range(60):  # requests keep flowing, as under load; closes are at most one per 0.1 s a worker
            splits.append(sorted(Counter(c.get("/pid").json()["pid"] for c in clients).values()))
            if splits[-3:] == [[8, 8]] * 3:
                break
            time.sleep(0.05)
        assert splits[-3:] == [[8, 8]] * 3, splits
    finally:
        for c in clients:
            c.close()
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=40) == 0


def test_balancer_sheds_only_over_its_share_and_not_too_often():
    import asyncio

    from shopsense.serve.balance import ConnectionBalancer

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    counts = [0, 6]
    bal = ConnectionBalancer(app, counts, slot=0, min_interval_s=60)

    def call() -> list:
        sent: list = []

        async def send(m):
            sent.append(m)

        asyncio.run(bal(({"type": "http"}), None, send))
        return sent[0]["headers"]

    bal.connections = lambda: 9  # 9 of 15: share is 8
    assert (b"connection", b"close") in call() and counts[0] == 9
    assert (b"connection", b"close") not in call()  # once per min_interval_s
    bal._last = 0.0
    bal.connections = lambda: 8  # the client reconnected to the other worker: 8 of 15, at its share
    counts[1] = 7
    assert (b"connection", b"close") not in call()
    counts[1] = 5  # 8 of 13: over the share of 7 again
    assert (b"connection", b"close") in call() and bal.shed == 2
