"""Run the app in several uvicorn worker processes (``serve.workers > 1``), one listening socket each.

Why our own supervisor rather than uvicorn's ``--workers``:
- uvicorn's workers share *one* accept socket, and whichever worker is awake takes the new
  connections: with wrk's 16 keep-alive connections one worker often held 12–16 of them, so half the
  box idled or one worker's queue set the p99 (search capacity swung 208–419 QPS between identical
  runs). Here every worker binds its own socket to the port with SO_REUSEPORT, and the kernel spreads
  connections over the workers by a hash of the connection's addresses.
- uvicorn binds that socket as ``socket.socket(family)`` — protocol 0 — and asyncio only turns
  Nagle's algorithm off (TCP_NODELAY) on accepted sockets whose protocol is IPPROTO_TCP; with Nagle on,
  small responses waited for the client's delayed ACK (~40 ms on a third of the requests). Our
  sockets carry the protocol.

- keep-alive connections stay with the worker the kernel hashed them to, and the hash rarely splits
  them evenly: with ``balance`` the workers shed connections until it is even (see serve.balance).

The parent checks the port is free (SO_REUSEPORT would otherwise let a second server on the same port
silently share it), starts the workers, restarts one that dies, and stops them all on SIGINT/SIGTERM.
Linux/BSD only (SO_REUSEPORT); elsewhere use one worker.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import signal
import socket
import time

from shopsense.errors import ConfigError


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listen_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound TCP socket with the protocol set (so asyncio sets TCP_NODELAY on accepted connections)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _check_port_free(host: str, port: int) -> int:
    """Bind the port without SO_REUSEPORT (fails if anything listens there); returns the port (a free
    one when `port` is 0)."""
    try:
        with listen_socket(host, port, reuse_port=False) as probe:
            return probe.getsockname()[1]
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"{host}:{port} is already in use: stop the other server or set serve.port") from e
        raise


def _worker(factory: str, host: str, port: int, log_level: str, counts=None, slot: int = 0) -> None:
    import uvicorn

    sock = listen_socket(host, port, reuse_port=True)
    if counts is None:
        config = uvicorn.Config(factory, factory=True, host=host, port=port, log_level=log_level)
        uvicorn.Server(config).run(sockets=[sock])
        return
    from uvicorn.importer import import_from_string

    from shopsense.serve.balance import ConnectionBalancer

    counts[slot] = 0  # a restarted worker starts with no connections
    app = ConnectionBalancer(import_from_string(factory)(), counts, slot)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    app.connections = lambda: len(server.server_state.connections)
    app.start_publisher()
    server.run(sockets=[sock])


def run_workers(factory: str, host: str, port: int, workers: int, log_level: str = "warning",
                balance: bool = True) -> None:
    """Serve the app made by the import string `factory` (a zero-argument function) in `workers`
    processes, each with its own SO_REUSEPORT socket on (host, port); with `balance`, the workers keep
    their connections evenly split (serve.balance). Blocks until SIGINT/SIGTERM."""
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - not Linux/BSD
        raise ConfigError("serve.workers > 1 needs SO_REUSEPORT (Linux/BSD): set serve.workers = 1")
    port = _check_port_free(host, port)
    ctx = mp.get_context("spawn")  # fresh interpreters: no inherited locks, threads or model memory
    stopping = False
    counts = ctx.Array("i", workers, lock=False) if balance else None  # open connections per worker

    def start(slot: int) -> mp.process.BaseProcess:
        p = ctx.Process(target=_worker, args=(factory, host, port, log_level, counts, slot), daemon=False)
        p.start()
        return p

    def stop(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        nonlocal stopping
        stopping = True

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    procs = [start(i) for i in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping:
                    print(f"server process {p.pid} exited with {p.exitcode}; starting another", flush=True)
                    procs[i] = start(i)
    finally:
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)  # uvicorn: finish in-flight requests, then exit
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():  # pragma: no cover - a stuck worker
                p.kill()
        for s, h in old.items():
            signal.signal(s, h)
