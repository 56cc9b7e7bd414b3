"""A plain FastHttpUser for bench_load.py: the same four GETs as the nurse's chart review,
with no persona logic, no body checks, no recording. Run by Locust in its own process:

    BENCH_EHR_URL=http://127.0.0.1:PORT BENCH_PATIENTS=200 python -m locust -f bench/locustfiles/plain_reads.py ...
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, constant, task

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "200"))


class PlainChartReader(FastHttpUser):
    host = os.environ.get("BENCH_EHR_URL", "http://127.0.0.1:1")
    wait_time = constant(0)

    @task
    def chart_review(self) -> None:
        patient = f"p{random.randint(1, PATIENTS):06d}"
        self.client.get(f"/Patient/{patient}", name="ehr: GET Patient/{id}")
        self.client.get(f"/AllergyIntolerance?patient={patient}", name="ehr: GET AllergyIntolerance?patient")
        self.client.get(f"/Observation?patient={patient}&category=vital-signs&_count=10",
                        name="ehr: GET Observation?patient&category=vital-signs")
        self.client.get(f"/MedicationRequest?patient={patient}&status=active",
                        name="ehr: GET MedicationRequest?patient&status=active")
