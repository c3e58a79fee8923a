"""Latency histograms per route (fixed buckets, cumulative like Prometheus) and request/error counts."""

from __future__ import annotations

import threading
from typing import Any

BUCKETS_MS = [1, 2.5, 5, 10, 20, 30, 50, 75, 100, 250, 500, 1000, 2500, float("inf")]


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: dict[str, dict[str, Any]] = {}

    def observe(self, route: str, status: int, ms: float) -> None:
        with self.lock:
            r = self.routes.get(route)
            if r is None:
                r = self.routes[route] = {"count": 0, "errors_4xx": 0, "errors_5xx": 0, "sum_ms": 0.0,
                                          "buckets": [0] * len(BUCKETS_MS)}
            r["count"] += 1
            r["sum_ms"] += ms
            if 400 <= status < 500:
                r["errors_4xx"] += 1
            elif status >= 500:
                r["errors_5xx"] += 1
            for i, b in enumerate(BUCKETS_MS):
                if ms <= b:
                    r["buckets"][i] += 1
                    break

    @staticmethod
    def _quantile(buckets: list[int], count: int, q: float) -> float | None:
        if not count:
            return None
        target, acc = q * count, 0
        for b, c in zip(BUCKETS_MS, buckets):
            acc += c
            if acc >= target:
                return b
        return None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            out = {}
            for route, r in sorted(self.routes.items()):
                cum, acc = {}, 0
                for b, c in zip(BUCKETS_MS, r["buckets"]):
                    acc += c
                    cum["+Inf" if b == float("inf") else f"{b:g}"] = acc
                out[route] = {"count": r["count"], "errors_4xx": r["errors_4xx"], "errors_5xx": r["errors_5xx"],
                              "mean_ms": round(r["sum_ms"] / r["count"], 3) if r["count"] else None,
                              "p50_ms_le": self._quantile(r["buckets"], r["count"], 0.5),
                              "p99_ms_le": self._quantile(r["buckets"], r["count"], 0.99),
                              "histogram_ms_le": cum}
            return out

    def prometheus(self) -> str:
        lines = ["# TYPE shopsense_request_ms histogram"]
        for route, r in self.snapshot().items():
            for le, c in r["histogram_ms_le"].items():
                lines.append(f'shopsense_request_ms_bucket{{route="{route}",le="{le}"}} {c}')
            lines.append(f'shopsense_request_ms_count{{route="{route}"}} {r["count"]}')
            lines.append(f'shopsense_request_errors_total{{route="{route}",class="4xx"}} {r["errors_4xx"]}')
            lines.append(f'shopsense_request_errors_total{{route="{route}",class="5xx"}} {r["errors_5xx"]}')
        return "\n".join(lines) + "\n"
