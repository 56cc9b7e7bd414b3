"""Synthetic data generation rate (issue 3): resources per second for 1 000 and 10 000 patients.

Prints figures; asserts nothing.

    .venv/bin/python bench/bench_synthetic.py [--sizes 1000 10000] [--seed N]

For each size, each view is drained once (generation is lazy, so draining is generating):
Patient resources, clinical resources, imaging studies (counting instances too), and the
staff/OR/scanner schedules. The rate counts FHIR resources (patients + clinical) per second;
studies and schedules are reported separately. Peak traced memory of the clinical stream
shows that it does not grow with the patient count.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mock_services.synthetic import SyntheticConfig, generate


def drain(view: Callable[[], Iterable[Any]]) -> tuple[int, float]:
    started = time.perf_counter()
    count = sum(1 for _ in view())
    return count, time.perf_counter() - started


def peak_kib(view: Callable[[], Iterable[Any]], limit: int) -> float:
    """Peak traced memory while streaming the first ``limit`` items (tracemalloc is slow: bounded)."""
    tracemalloc.start()
    try:
        for n, _ in enumerate(view(), 1):
            if n >= limit:
                break
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    print(f"{'patients':>9} {'view':<10} {'items':>9} {'seconds':>8} {'items/s':>10}")
    for size in args.sizes:
        data = generate(SyntheticConfig(seed=args.seed, patients=size))
        fhir_total, fhir_time = 0, 0.0
        for name, view in (
            ("patients", data.patients),
            ("clinical", data.clinical),
            ("studies", data.imaging_studies),
            ("staff", data.staff_schedules),
            ("or+scan", data.or_schedules),
        ):
            count, seconds = drain(view)
            if name in ("patients", "clinical"):
                fhir_total, fhir_time = fhir_total + count, fhir_time + seconds
            print(f"{size:>9} {name:<10} {count:>9} {seconds:>8.2f} {count / seconds if seconds else 0:>10.0f}")
        instances = sum(len(x.instances) for s in data.imaging_studies() for x in s.series)
        print(f"{size:>9} {'instances':<10} {instances:>9}")
        print(f"{size:>9} FHIR resources: {fhir_total} in {fhir_time:.2f} s = {fhir_total / fhir_time:.0f} resources/s")
        print(f"{size:>9} clinical stream peak (first 20 000 items): {peak_kib(data.clinical, 20_000):.0f} KiB")


if __name__ == "__main__":
    main()
