"""`serve.workers > 1`: the listening socket handed to uvicorn's worker processes."""

from __future__ import annotations

import socket


def test_worker_socket_is_tcp_so_asyncio_turns_nagle_off(monkeypatch):
    """asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; uvicorn's own worker
    socket has protocol 0, which left Nagle on (~40 ms stalls). Ours must carry the protocol."""
    from uvicorn.supervisors import Multiprocess

    from shopsense.serve.workers import run_workers

    seen = {}

    def fake_run(self):
        sock = self.sockets[0]
        seen.update(proto=sock.proto, family=sock.family, workers=self.config.workers,
                    app=self.config.app, factory=self.config.factory, bound=sock.getsockname()[1])

    monkeypatch.setattr(Multiprocess, "run", fake_run)
    run_workers("shopsense.serve.app:create_app_from_env", "127.0.0.1", 0, 3)
    assert seen["proto"] == socket.IPPROTO_TCP and seen["family"] == socket.AF_INET
    assert seen["workers"] == 3 and seen["factory"] and seen["app"] == "shopsense.serve.app:create_app_from_env"
    assert seen["bound"] > 0
