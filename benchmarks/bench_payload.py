"""Throughput of payload hashing, from the wire bytes: perfaudit vs ``json`` + hashlib.

Run from the repository root::

    .venv/bin/python benchmarks/bench_payload.py [--rounds N] [--size-mb M]

What a payload hash costs is now the cost of the response *as sent*: the
body after rendering, parsed, re-written with sorted keys and hashed, plus the
raw hash of the wire bytes. Workload: a DRF-like paginated list of about 5 MB
(``{"count", "next", "previous", "results": [...]}``, each result with ints,
strings, a nested author, tag strings, review dicts, aware UTC datetimes, a
date, a ``Decimal`` price, a ``UUID``, a float, a bool and a null), rendered
once as DRF's ``JSONRenderer`` writes it (insertion key order, compact,
UTF-8). Variants:

(f) ``digest(HttpResponse(body, content_type="application/json"))``: what
    compare, audit, the middleware and the toolbar do for every JSON response
    (a DRF ``Response`` is read the same way, from ``response.content``);
(c) ``payload_hash(body)``: the canonical hash from the bare JSON bytes;
(d) baseline: ``json.loads(body)`` then ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` + ``hashlib.sha256``;
(e) raw-bytes hash: ``hashlib.sha256(body)``, what ``PayloadDigest.raw`` costs;
(a) ``payload_hash(data)``: from Python objects (the explanatory ``data``
    figure of a DRF response, ``digest(..., with_data=True)``);
(b) its baseline: ``json.dumps(data, sort_keys=True, ..., default=<DRF's
    rules>)`` + ``hashlib.sha256``;
(g) ``payload_hash(data, ignore=["$.results[*].updated_at"])``: the cost of a mask;
(h) floor: ``orjson.loads(body)`` alone, the parse every wire hash needs;
(i) floor: ``orjson.loads`` + ``orjson.dumps(OPT_SORT_KEYS)`` + ``sha256`` of
    the canonical bytes and of the wire bytes, inline: the least a canonical
    wire hash with these libraries can cost. (f)/(i) is perfaudit's own
    overhead; when (i) is under the MB/s target, no code around orjson can
    reach it on this machine.

MB/s divides the size of the wire body (for (a), (b), (g): of the canonical
output) by the time. Every round runs each variant once, in an order rotated
from round to round, with the garbage collector collected before and disabled
during each timing (as ``timeit`` does); one warm-up round is discarded.
Ratios are taken per round and summarised as median (min-max). Before timing,
the canonical bytes are checked to carry the same data as the baseline's
output, so the benchmark fails loudly instead of measuring nothing.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import gc
import hashlib
import json
import random
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

# perfaudit.conf reads settings.PERFAUDIT; nothing else of Django is needed.
settings.configure(INSTALLED_APPS=["perfaudit"], PERFAUDIT={})
django.setup()

from django.http import HttpResponse  # noqa: E402

from perfaudit.payload import canonical_bytes, digest, payload_hash  # noqa: E402

#: Targets for hashing the wire body (variant f against baseline d).
TARGET_MBPS = 150.0
TARGET_RATIO = 2.0


def build_payload(size_mb: float, seed: int = 20240501) -> dict[str, Any]:
    """A paginated serializer's ``response.data``, about ``size_mb`` of canonical JSON."""
    rnd = random.Random(seed)
    utc = datetime.UTC
    start = datetime.datetime(2024, 1, 1, tzinfo=utc)
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod".split()

    def text(low: int, high: int) -> str:
        return " ".join(rnd.choice(words) for _ in range(rnd.randint(low, high)))

    def record(i: int) -> dict[str, Any]:
        author = i % 700
        return {
            "id": i,
            "url": f"https://api.example.com/books/{i}/",
            "title": text(2, 8).title(),
            "isbn": f"978-{rnd.randrange(10**9):09d}-{i % 10}",
            "uuid": uuid.UUID(int=rnd.getrandbits(128)),
            "price": decimal.Decimal(rnd.randrange(100, 99_999)).scaleb(-2),
            "rating": round(rnd.uniform(1, 5), 2),
            "in_stock": rnd.random() < 0.7,
            "discontinued_at": None,
            "published": datetime.date(1950 + i % 70, 1 + i % 12, 1 + i % 28),
            "created_at": start + datetime.timedelta(seconds=rnd.randrange(10**7)),
            "updated_at": start + datetime.timedelta(seconds=i, microseconds=rnd.randrange(10**6)),
            "author": {
                "id": author,
                "name": f"Author {author}",
                "email": f"author{author}@example.com",
                "country": rnd.choice(["FR", "DE", "US", "JP", "BR"]),
            },
            "tags": [f"tag-{rnd.randrange(60)}" for _ in range(rnd.randint(0, 4))],
            "reviews": [
                {
                    "id": i * 10 + k,
                    "rating": rnd.randint(1, 5),
                    "body": text(4, 30),
                    "created_at": start + datetime.timedelta(minutes=rnd.randrange(10**6)),
                }
                for k in range(rnd.randint(0, 3))
            ],
            "summary": text(10, 60),
        }

    results: list[dict[str, Any]] = []
    data: dict[str, Any] = {
        "count": 0,
        "next": "https://api.example.com/books/?page=3",
        "previous": "https://api.example.com/books/?page=1",
        "results": results,
    }
    # Grow in steps, measuring the real canonical size, until the target is reached.
    target = size_mb * 1_000_000
    while True:
        results.extend(record(len(results) + k) for k in range(500))
        data["count"] = len(results)
        if len(canonical_bytes(data)) >= target:
            return data


def drf_default(obj: Any) -> Any:
    """DRF's ``JSONEncoder.default`` for the types of this payload."""
    if isinstance(obj, datetime.datetime):
        text = obj.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(obj, datetime.date):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    raise TypeError(type(obj).__name__)


def baseline_dumps(data: Any) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=drf_default
    ).encode()


def floor(body: bytes) -> tuple[str, str]:
    """The minimal canonical wire hash: parse, write sorted, hash both."""
    canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest(), hashlib.sha256(canonical).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="measured rounds (default 21)")
    parser.add_argument("--size-mb", type=float, default=5.0, help="payload size (default 5)")
    args = parser.parse_args()

    data = build_payload(args.size_mb)
    # The body as DRF's JSONRenderer writes it: insertion order, compact, UTF-8.
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=drf_default)
    body_bytes = body.encode()
    response = HttpResponse(body_bytes, content_type="application/json")
    canonical = canonical_bytes(data)
    canonical_size, body_size = len(canonical), len(body_bytes)

    # Same data, checked before anything is timed.
    baseline = baseline_dumps(data)
    if json.loads(canonical) != json.loads(baseline):
        raise SystemExit("canonical bytes and the json.dumps baseline carry different data")
    if canonical_bytes(body_bytes) != canonical:
        raise SystemExit("canonical bytes from JSON bytes differ from those from objects")
    if digest(response).canonical != payload_hash(data):
        raise SystemExit("digest(response) differs from payload_hash(data)")
    if json.loads(canonical_bytes(response)) != json.loads(body_bytes):
        raise SystemExit("the canonical wire body does not carry the body's data")
    masked = digest(data, ignore=["$.results[*].updated_at"])
    if masked.masked != len(data["results"]):
        raise SystemExit(f"the mask replaced {masked.masked} values, not {len(data['results'])}")

    variants: dict[str, tuple[str, Callable[[], object], int]] = {
        "a": ("perfaudit, from objects", lambda: payload_hash(data), canonical_size),
        "b": (
            "json.dumps(sort_keys) + sha256",
            lambda: hashlib.sha256(baseline_dumps(data)).hexdigest(),
            canonical_size,
        ),
        "c": ("perfaudit, from JSON bytes", lambda: payload_hash(body_bytes), body_size),
        "d": (
            "json.loads + dumps(sort_keys) + sha256",
            lambda: hashlib.sha256(baseline_dumps(json.loads(body_bytes))).hexdigest(),
            body_size,
        ),
        "e": (
            "raw bytes: sha256(body)",
            lambda: hashlib.sha256(body_bytes).hexdigest(),
            body_size,
        ),
        "f": ("digest(HttpResponse): wire, (c) + (e)", lambda: digest(response), body_size),
        "g": (
            "perfaudit, objects, one [*] mask",
            lambda: payload_hash(data, ignore=["$.results[*].updated_at"]),
            canonical_size,
        ),
        "h": ("floor: orjson.loads(body)", lambda: orjson.loads(body_bytes), body_size),
        "i": ("floor: loads+dumps(sort)+2 sha256", lambda: floor(body_bytes), body_size),
    }
    keys = list(variants)
    times: dict[str, list[float]] = {key: [] for key in keys}
    print(
        f"payload: {len(data['results']):,} results, canonical JSON "
        f"{canonical_size / 1e6:.2f} MB, rendered body {body_size / 1e6:.2f} MB; "
        f"{args.rounds} rounds + 1 warm-up "
        f"(Python {sys.version.split()[0]}, Django {django.get_version()})"
    )
    for round_number in range(args.rounds + 1):
        shift = round_number % len(keys)
        for key in keys[shift:] + keys[:shift]:
            gc.collect()
            gc.disable()
            started = perf_counter()
            variants[key][1]()
            elapsed = perf_counter() - started
            gc.enable()
            if round_number:
                times[key].append(elapsed)

    print()
    print(f"{'variant':<38} {'ms median (min-max)':>24} {'MB/s median (min-max)':>26}")
    for key in keys:
        label, _, size = variants[key]
        samples = [t * 1e3 for t in times[key]]
        rates = [size / 1e3 / t for t in samples]
        print(
            f"({key}) {label:<34} "
            f"{_fmt(statistics.median(samples), min(samples), max(samples)):>24} "
            f"{_fmt(statistics.median(rates), min(rates), max(rates)):>26}"
        )

    print()
    ratios = {
        "(d)/(f) wire:    json time ÷ digest(response) time": _ratios(times["d"], times["f"]),
        "(d)/(c) bytes:   json time ÷ perfaudit time": _ratios(times["d"], times["c"]),
        "(b)/(a) objects: json.dumps time ÷ perfaudit time": _ratios(times["b"], times["a"]),
        "(f)/(i) digest(response) time ÷ the floor's": _ratios(times["f"], times["i"]),
    }
    for label, values in ratios.items():
        print(f"{label:<52} {_fmt(*_summary(values), digits=2)}x")

    rate = statistics.median(body_size / 1e6 / t for t in times["f"])
    ratio = statistics.median(ratios["(d)/(f) wire:    json time ÷ digest(response) time"])
    print()
    print(
        f"targets (from the wire bytes, (f)): ≥ {TARGET_MBPS:.0f} MB/s → {rate:.0f} MB/s "
        f"[{'met' if rate >= TARGET_MBPS else 'MISSED'}]; "
        f"≥ {TARGET_RATIO:.0f}x (d) → {ratio:.2f}x "
        f"[{'met' if ratio >= TARGET_RATIO else 'MISSED'}]"
    )
    floor_rate = statistics.median(body_size / 1e6 / t for t in times["i"])
    parse_rate = statistics.median(body_size / 1e6 / t for t in times["h"])
    print(
        f"the floor (i) on this machine: {floor_rate:.0f} MB/s (orjson.loads alone: "
        f"{parse_rate:.0f} MB/s)"
        + (
            f"; the {TARGET_MBPS:.0f} MB/s target is above what orjson allows here"
            if floor_rate < TARGET_MBPS
            else ""
        )
    )


def _ratios(slow: list[float], fast: list[float]) -> list[float]:
    return [s / f for s, f in zip(slow, fast, strict=True)]


def _summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _fmt(median: float, low: float, high: float, *, digits: int = 1) -> str:
    return f"{median:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


if __name__ == "__main__":
    main()
