"""Accuracy of camscan's identification on the real-world development set (tests/realworld/):
every case through the same engine and fusion as a scan; figures per source and per field.

    python bench/bench_realworld.py [--misses]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from camscan.devset import evaluate, format_report, load_cases
from camscan.fingerprint.engine import Engine

ROOT = Path(__file__).resolve().parent.parent / "tests" / "realworld"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--misses", action="store_true", help="list every miss and false flag")
    args = ap.parse_args()
    cases = load_cases(sorted(ROOT.glob("*.jsonl")))
    t0 = time.perf_counter()
    report = evaluate(cases, Engine.load())
    took = time.perf_counter() - t0
    text = format_report(report)
    if not args.misses:
        text = text.split("\nmaker missed:")[0].split("\nother devices called surveillance:")[0]
    print(text)
    print(f"\n{len(cases)} cases in {took:.2f} s")


if __name__ == "__main__":
    main()
