"""How long ``perfaudit.detect.run()`` takes on a 10,000-query recording.

Run from the repository root::

    python benchmarks/bench_detect.py

The recording is real: an ORM workload over SQLite (the test app's models)
with the usual mix — N+1 loops over a forward FK, a reverse-FK count and an
M2M, repeated identical reads, a paginated distinct count, an aggregate
annotation and plain reads — captured with ``perfaudit.record()``. Reported,
as medians with min–max over repetitions:

* ``materialise``: turning the raw capture into ``QueryEvent`` objects (paid
  once per recording, on first access to ``rec.queries``);
* ``run (cold)``: detection with the fingerprint cache cleared;
* ``run (warm)``: detection with fingerprints cached (the usual case: Django
  repeats identical SQL, and the cache outlives a request).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["PERFAUDIT_TEST_DB"] = "sqlite"

import django

django.setup()

from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

import perfaudit  # noqa: E402
from perfaudit.capture import Recording  # noqa: E402
from perfaudit.detect import run  # noqa: E402
from perfaudit.sql.shape import analyze  # noqa: E402

TARGET = 10_000
REPEATS = 15


def build_data() -> None:
    from tests.factories import BookFactory, ReviewFactory, TagFactory

    tags = TagFactory.create_batch(5)
    for i in range(400):
        book = BookFactory()
        book.tags.set(tags[: i % 5 + 1])
        ReviewFactory.create_batch(2, book=book)


def workload() -> Recording:
    from tests.testapp.models import Author, Book

    with perfaudit.record(max_queries=TARGET) as rec:
        while len(rec) < TARGET:
            for book in Book.objects.all()[:400]:
                book.author.name  # noqa: B018 - forward FK N+1
                book.reviews.count()  # reverse FK N+1
                [tag.name for tag in book.tags.all()]  # M2M N+1
            for _ in range(50):
                Author.objects.filter(pk=1).first()  # duplicates
            Book.objects.filter(tags__name__startswith="tag").distinct().count()
            list(Book.objects.annotate(n=Count("reviews")).order_by("id")[:10])
    return rec


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    connection.creation.create_test_db(verbosity=0)
    build_data()
    materialise, cold, warm = [], [], []
    findings = []
    for _ in range(REPEATS):
        rec = workload()
        materialise.append(timed(lambda rec=rec: rec.queries))
        analyze.cache_clear()
        cold.append(timed(lambda rec=rec: run(rec)))
        warm.append(timed(lambda rec=rec: findings.append(run(rec))))
    assert len(rec.queries) == TARGET, len(rec.queries)
    print(f"detect.run() on a recording of {len(rec.queries):,} real queries (SQLite)")
    print(f"findings: {', '.join(f'{f.kind}×{f.count}' for f in findings[-1])}")
    print(f"{'step':<18} {'median':>10} {'min':>10} {'max':>10}")
    for name, samples in (
        ("materialise", materialise),
        ("run (cold)", cold),
        ("run (warm)", warm),
    ):
        ms = [s * 1000 for s in samples]
        print(f"{name:<18} {statistics.median(ms):>8.2f}ms {min(ms):>8.2f}ms {max(ms):>8.2f}ms")
    print("target: run (warm) < 20 ms")


if __name__ == "__main__":
    main()
