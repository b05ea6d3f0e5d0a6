"""The core issue's benchmark in one run: capture overhead, then fingerprint throughput.

Run from the repository root::

    .venv/bin/python benchmarks/bench_core.py [--rounds N] [--probe-rounds M] [--repetitions R]

One process, one Django set-up: ``bench_capture.py`` then ``bench_fingerprint.py``
(each prints its own tables, described in their docstrings and in
``benchmarks/README.md``), then every target of both with its verdict. Exits 1
when a target is not met, so the figures of one run are all on one screen.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import bench_capture
import bench_fingerprint
from benchapp.bootstrap import configure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="capture part 1 rounds")
    parser.add_argument("--probe-rounds", type=int, default=30, help="capture part 2 rounds")
    parser.add_argument("--repetitions", type=int, default=20, help="fingerprint repetitions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfaudit-bench-") as directory:
        configure(directory)
        targets = bench_capture.run(args.rounds, args.probe_rounds)
        print()
        targets += bench_fingerprint.run(args.repetitions)
    print()
    print("All targets of this run")
    width = max(len(what) for what, _, _ in targets)
    for what, figure, met in targets:
        print(f"  {what:<{width}}  {figure:>24}  {'MET' if met else 'NOT MET'}")
    return 0 if all(met for _, _, met in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
