"""Parse and validate a big event file in a second process while this one writes to the store.

On the columnar fast path the work splits into parsing + validation + keyed hashing (pure Python
and pyarrow, holding the GIL) and SQLite inserts. In one process a writer thread and the validator
share the GIL and barely overlap (measured: CPU time ≈ wall time); in two processes they use both
cores. The worker runs exactly the same `event_blocks` as the in-process path, so both accept,
reject and identify the same rows. Blocks come back as columns (numpy arrays, dictionary-encoded
strings): pickling 1M rows as tuples cost ~1.7 s and unpickling ~1 s, columns a small fraction.
The pipe's back-pressure bounds memory. Small files stay in-process: a worker costs ~1 s to start.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator

from shopsense.errors import DataError


def start_worker() -> subprocess.Popen:
    """Start the worker process now; it imports its libraries (~0.5 s) while the caller hashes the
    file and opens the run, and waits for its arguments on stdin."""
    import shopsense

    env = dict(os.environ)
    root = str(Path(shopsense.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen([sys.executable, "-m", "shopsense.ingest.worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env)


def stop_worker(p: subprocess.Popen) -> None:
    """Stop a worker (unused, finished or failed) and reap it."""
    if p.poll() is None:
        p.kill()
    p.wait()
    for f in (p.stdin, p.stdout):
        if f is not None and not f.closed:
            f.close()


def event_chunks_in_worker(path: Path, columns: list[str], cfg: Any, key: bytes, resume_after: int,
                           block_size: int, delimiter: str,
                           proc: subprocess.Popen | None = None) -> Iterator[tuple[Any, list[tuple], int]]:
    """Like `columnar.event_chunks`, run in a child process. Raises `columnar.Fallback` when the
    worker hits something the fast path cannot vouch for, at the same point the in-process path would.

    A plain `python -m` child (not multiprocessing's spawn, which re-imports the caller's __main__,
    and not fork, which pyarrow's thread pools and SQLite handles do not survive). Arguments, the
    key included, go over stdin, never the command line; blocks come back pickled over stdout, and
    the pipe's back-pressure keeps at most about one block in flight."""
    from shopsense.ingest.columnar import Fallback, block_rows

    p = proc if proc is not None else start_worker()
    assert p.stdin is not None and p.stdout is not None
    try:
        pickle.dump((str(path), columns, cfg.model_dump(), key, resume_after, block_size, delimiter), p.stdin)
        p.stdin.close()
        while True:
            try:
                msg = pickle.load(p.stdout)
            except EOFError:
                raise DataError(f"the validation worker stopped unexpectedly (exit code {p.wait()})", source=str(path),
                                hint="re-run the ingest: it resumes after the last committed chunk") from None
            if msg[0] == "block":
                yield block_rows(msg[1]), msg[2], msg[3]
            elif msg[0] == "done":
                return
            elif msg[0] == "fallback":
                raise Fallback(msg[1])
            else:
                raise DataError(f"validation worker failed: {msg[1]}", source=str(path),
                                hint="re-run the ingest: it resumes after the last committed chunk")
    finally:
        stop_worker(p)


def main() -> None:
    from shopsense.ingest.columnar import Fallback, event_blocks, pack_block
    from shopsense.ingest.config import IngestConfig
    from shopsense.ingest.pseudonym import Pseudonymizer
    from shopsense.ingest.schema import EventValidator

    out = sys.stdout.buffer

    def send(msg: tuple) -> None:
        pickle.dump(msg, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        path, columns, cfg, key, resume_after, block_size, delimiter = pickle.load(sys.stdin.buffer)
        v = EventValidator(columns, IngestConfig(**cfg), Pseudonymizer(key))
        for block, rejects, last_line in event_blocks(Path(path), v, resume_after, block_size, delimiter):
            send(("block", pack_block(block), rejects, last_line))
        send(("done",))
    except BrokenPipeError:  # the parent stopped reading (it failed or was interrupted)
        pass
    except Fallback as e:
        send(("fallback", str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"))


if __name__ == "__main__":
    main()
