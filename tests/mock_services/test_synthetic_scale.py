"""100 000 patients stream in bounded memory and reasonable time."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

from mock_services.synthetic import SyntheticConfig, generate


def peak_rss_kib() -> int:
    """VmHWM: this process's peak resident set since start or the last :func:`reset_peak_rss`."""
    match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    assert match is not None
    return int(match.group(1))


def reset_peak_rss() -> None:
    # Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS, so the peak measured
    # afterwards is this test's own, not what earlier tests (or imports) needed.
    Path("/proc/self/clear_refs").write_text("5")


def test_100k_patients_stream_without_holding_them() -> None:
    data = generate(SyntheticConfig(seed=2024, patients=100_000))
    reset_peak_rss()
    rss_before = peak_rss_kib()
    started = time.perf_counter()
    count = 0
    last_id = ""
    for patient in data.patients():
        count += 1
        last_id = patient["id"]
    elapsed = time.perf_counter() - started
    grown_mib = (peak_rss_kib() - rss_before) / 1024
    print(f"100 000 patients in {elapsed:.2f} s, max RSS grew {grown_mib:.1f} MiB")
    assert count == 100_000 and last_id == "p100000"
    assert elapsed < 20  # ~2.3 s on the 2-core reference machine
    assert grown_mib < 20  # 100 000 Patient dicts would be >100 MiB


def test_clinical_stream_peak_memory_is_one_patient_not_all() -> None:
    data = generate(SyntheticConfig(seed=2024, patients=100_000))
    tracemalloc.start()
    try:
        produced = 0
        for produced, _ in enumerate(data.clinical(), 1):
            if produced >= 10_000:  # ~330 patients: enough to show that nothing accumulates
                break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"10 000 clinical resources streamed, tracemalloc peak {peak / 1024:.0f} KiB")
    assert produced == 10_000
    assert peak < 2 * 1024 * 1024  # one patient's ~30 resources, not 10 000 of them (~20 MiB)
