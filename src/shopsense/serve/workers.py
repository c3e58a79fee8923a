"""Run the app in several uvicorn worker processes (``serve.workers > 1``).

uvicorn's own multi-worker mode binds its listening socket as ``socket.socket(family)`` — protocol 0 —
and asyncio only switches Nagle's algorithm off (TCP_NODELAY) on accepted sockets whose protocol is
IPPROTO_TCP. With Nagle on, small responses wait for the client's delayed ACK: measured here as a
second mode of ~40 ms latency on a third of the requests with 2 workers, none with 1 (where uvicorn
lets asyncio create the socket). So we bind the socket ourselves, with the protocol set, and hand it
to uvicorn's multiprocess supervisor; everything else is uvicorn's.
"""

from __future__ import annotations

import socket


def run_workers(factory: str, host: str, port: int, workers: int, log_level: str = "warning") -> None:
    """Serve the app made by the import string `factory` (a zero-argument function) in `workers`
    processes sharing one listening socket."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(factory, factory=True, host=host, port=port, workers=workers, log_level=log_level)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl+C in a terminal
        pass
    finally:
        sock.close()
