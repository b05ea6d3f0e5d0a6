"""Per-call cost of recording cache calls and outbound HTTP: perfaudit vs a bare wrapper.

Run from the repository root::

    .venv/bin/python benchmarks/bench_side.py [--rounds N] [--calls C]

Workloads (Django set up as in ``benchapp.bootstrap``, ``DEBUG=False``):

* cache: ``cache.get(key)`` on a LocMem cache holding the key, ``C`` calls
  per block;
* HTTP: ``HTTPConnectionPool.urlopen`` of a stand-in urllib3 module whose
  ``urlopen`` returns at once (perfaudit's patch is applied to it the way it
  is to urllib3's), so the figure is the wrapper's cost, not the network's.

Variants, per workload:

(u) the unwrapped method (``__wrapped__``): the baseline;
(0) perfaudit's wrapper with nothing recording (installed and idle);
(a) a bare wrapper that times the call and appends a tuple to a list: the
    floor of any wrapper-based capture;
(b) ``perfaudit.record(callsites=False)``;
(c) ``perfaudit.record()`` (call sites on).

Each round runs every variant (each block three times, keeping the fastest:
the machine is shared), in an order rotated from round to round; the first
round is discarded. A variant's cost per call is its block time minus (u)'s
in the same round, divided by ``C``; the tables give the median and the
min–max over rounds. Every recording is checked to have captured exactly
``C`` events. Targets, all against baselines of the same run:

* idle (0) costs at most the bare wrapper (a) + 0.3 µs per call;
* recording a cache call (b) costs less than one unwrapped LocMem ``get``
  (the cheapest backend: on Redis or Memcached the share is far smaller);
* recording an HTTP request (c) costs under 5% of one real request to a
  server on 127.0.0.1 (measured in the same run).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
from collections.abc import Callable
from time import perf_counter
from types import SimpleNamespace
from typing import Any

from benchapp.bootstrap import configure

Target = tuple[str, str, bool]


def _bare(original: Callable[..., Any], sink: list[Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink.append((args, start, perf_counter()))

    return wrapper


def _block(call: Callable[[], Any], calls: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = perf_counter()
        for _ in range(calls):
            call()
        best = min(best, perf_counter() - start)
    return best


def _variants(
    name: str, idle: Callable[[], Any], raw: Callable[[], Any], bare: Callable[[], Any],
    sink: list[Any], count: Callable[[Any], int], calls: int,
) -> dict[str, Callable[[], float]]:  # fmt: skip
    import perfaudit

    def recorded(**options: Any) -> Callable[[], float]:
        def run() -> float:
            best = float("inf")
            for _ in range(3):
                with perfaudit.record(**options) as rec:
                    start = perf_counter()
                    for _ in range(calls):
                        idle()
                    best = min(best, perf_counter() - start)
                assert count(rec) == calls, f"{name}: recorded {count(rec)} of {calls}"
            return best

        return run

    def bare_run() -> float:
        sink.clear()
        elapsed = _block(bare, calls)
        assert len(sink) == 3 * calls
        return elapsed

    return {
        "(u) unwrapped": lambda: _block(raw, calls),
        "(0) perfaudit idle": lambda: _block(idle, calls),
        "(a) bare wrapper": bare_run,
        "(b) record(callsites=False)": recorded(callsites=False),
        "(c) record()": recorded(),
    }


def _measure(
    variants: dict[str, Callable[[], float]], rounds: int, calls: int
) -> dict[str, list[float]]:
    names = list(variants)
    costs: dict[str, list[float]] = {name: [] for name in names}
    unwrapped: list[float] = []
    gc.disable()
    try:
        for r in range(rounds + 1):
            order = names[r % len(names) :] + names[: r % len(names)]
            times = {name: variants[name]() for name in order}
            if r == 0:
                continue  # warm-up
            base = times["(u) unwrapped"]
            unwrapped.append(base / calls * 1e6)
            for name in names:
                costs[name].append((times[name] - base) / calls * 1e6)
    finally:
        gc.enable()
    costs["unwrapped µs"] = unwrapped
    return costs


def _table(title: str, costs: dict[str, list[float]]) -> None:
    print(title)
    print(f"  {'variant':<30} {'µs/call median':>15} {'min':>8} {'max':>8}")
    for name, values in costs.items():
        if name == "unwrapped µs":
            continue
        print(
            f"  {name:<30} {statistics.median(values):>15.3f} "
            f"{min(values):>8.3f} {max(values):>8.3f}"
        )


def _median(costs: dict[str, list[float]], name: str) -> float:
    return statistics.median(costs[name])


def _idle_target(label: str, costs: dict[str, list[float]]) -> Target:
    idle, bare = _median(costs, "(0) perfaudit idle"), _median(costs, "(a) bare wrapper")
    return (
        f"{label}: idle ≤ bare wrapper + 0.3 µs",
        f"{idle:.2f} vs {bare:.2f} µs",
        idle <= bare + 0.3,
    )


def _local_request_us(rounds: int) -> float:
    """Median µs of one real urllib3 GET to a server on 127.0.0.1 (keep-alive)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import urllib3

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once, as servers do

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        pool = urllib3.HTTPConnectionPool("127.0.0.1", server.server_address[1], maxsize=1)
        samples = []
        for _ in range(rounds * 10):
            start = perf_counter()
            assert pool.urlopen("GET", "/").data == b"ok"
            samples.append((perf_counter() - start) * 1e6)
        pool.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return statistics.median(samples[10:])


def _cache_variants(calls: int) -> dict[str, Callable[[], float]]:
    from django.core.cache import caches

    import perfaudit

    with perfaudit.record():  # installs the cache wrapper on this thread's backend
        pass
    backend = caches["default"]
    backend.set("bench:key", 1)
    raw = backend.get.__wrapped__
    sink: list[Any] = []
    return _variants(
        "cache", lambda: backend.get("bench:key"), lambda: raw("bench:key"),
        _bare(lambda: raw("bench:key"), sink), sink, lambda rec: len(rec.cache), calls,
    )  # fmt: skip


def _http_variants(calls: int) -> dict[str, Callable[[], float]]:
    from perfaudit.capture import http

    response = SimpleNamespace(status=200)

    class Pool:
        scheme, host, port = "http", "127.0.0.1", 8000

        def urlopen(self, method: str, url: str, **kwargs: Any) -> Any:
            return response

    http._patch_urllib3(SimpleNamespace(HTTPConnectionPool=Pool))
    pool = Pool()
    raw = Pool.urlopen.__wrapped__  # type: ignore[attr-defined]
    sink: list[Any] = []
    return _variants(
        "http", lambda: pool.urlopen("GET", "/"), lambda: raw(pool, "GET", "/"),
        _bare(lambda: raw(pool, "GET", "/"), sink), sink, lambda rec: len(rec.http), calls,
    )  # fmt: skip


def run(rounds: int, calls: int) -> list[Target]:
    cache_costs = _measure(_cache_variants(calls), rounds, calls)
    title = f"extra µs per call over the unwrapped method ({rounds} rounds)"
    _table(f"cache.get: {title}", cache_costs)
    locmem = _median(cache_costs, "unwrapped µs")
    print(f"  (u) itself: {locmem:.2f} µs per LocMem get\n")
    http_costs = _measure(_http_variants(calls), rounds, calls)
    _table(f"HTTP urlopen: {title}", http_costs)
    real = _local_request_us(rounds)
    print(f"  one real urllib3 GET to 127.0.0.1: {real:.1f} µs (median)\n")
    recording = _median(cache_costs, "(b) record(callsites=False)")
    http_recording = _median(http_costs, "(c) record()")
    return [
        _idle_target("cache.get", cache_costs),
        (
            "cache.get: recording < one LocMem get",
            f"{recording:.2f} vs {locmem:.2f} µs",
            recording < locmem,
        ),
        _idle_target("HTTP", http_costs),
        (
            "HTTP: recording < 5% of a local request",
            f"{http_recording:.2f} vs {real:.0f} µs",
            http_recording < 0.05 * real,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfaudit-bench-") as directory:
        configure(directory)
        targets = run(args.rounds, args.calls)
    width = max(len(what) for what, _, _ in targets)
    for what, figure, met in targets:
        print(f"  {what:<{width}}  {figure:>24}  {'MET' if met else 'NOT MET'}")
    return 0 if all(met for _, _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
