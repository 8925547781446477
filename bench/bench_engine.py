"""Fingerprint engine throughput: evidence items matched per second, one core, full rule set.

Two mixes, each with the engine remembering repeated values (as in a scan) and without:
  * examples: every rule example (values that do match something), cycled;
  * office: a realistic scan mix — mostly values that match nothing (random Server headers,
    titles, ports, MACs of unrelated vendors) with a sprinkling of camera evidence.
Usage: python bench/bench_engine.py [--items N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from camscan.fingerprint.engine import Engine, mac_registrant
from camscan.model import Evidence


def example_mix(engine: Engine) -> list[Evidence]:
    return [
        Evidence("bench", r.protocol, ex.value, ip="198.18.0.2")
        for r in engine.rules
        for ex in r.examples
    ]


def office_mix(engine: Engine, n: int, seed: int = 1) -> list[Evidence]:
    rnd = random.Random(seed)
    camera = example_mix(engine)
    filler_protocols = [
        "http_server",
        "html_title",
        "open_port",
        "mac",
        "http_wwwauth",
        "rtsp_server",
    ]
    out = []
    for i in range(n):
        if rnd.random() < 0.2:
            out.append(rnd.choice(camera))
            continue
        proto = rnd.choice(filler_protocols)
        if proto == "open_port":
            value = f"{rnd.randint(1, 65535)}/tcp"
        elif proto == "mac":
            value = ":".join(f"{rnd.randint(0, 255) & 0xFC:02x}" for _ in range(6))
        else:
            value = f"Server-{rnd.randint(0, 10**9)}/{rnd.randint(0, 99)}.{i % 7} (Unix)"
        out.append(Evidence("bench", proto, value, ip="198.18.0.3"))
    return out


def rate(engine: Engine, items: list[Evidence], repeat: int = 5) -> float:
    runs = []
    for _ in range(repeat):
        mac_registrant.cache_clear()
        t = time.perf_counter()
        for ev in items:
            engine.match(ev)
        runs.append(len(items) / (time.perf_counter() - t))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    args = ap.parse_args()
    t = time.perf_counter()
    engine = Engine.load()
    load = time.perf_counter() - t
    print(f"rules: {len(engine.rules)}  load+compile: {load * 1000:.0f} ms")
    plain = Engine(engine.rules, engine.vendors, memo=False, lexicon=engine.lexicon)
    ex = example_mix(engine)
    reps = max(1, args.items // max(1, len(ex)))
    office = office_mix(engine, args.items)
    for label, eng in (("remembering repeats", engine), ("every value matched afresh", plain)):
        print(f"[{label}]")
        print(f"  examples mix ({len(ex) * reps} items): {rate(eng, ex * reps):,.0f} evidence/s")
        print(f"  office mix   ({len(office)} items): {rate(eng, office):,.0f} evidence/s")


if __name__ == "__main__":
    main()
