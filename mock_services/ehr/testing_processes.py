"""The testing seam for real processes: EHR (and witness) processes on free ports.

:class:`Cluster` starts ``python -m mock_services.ehr`` / ``python -m mock_services.witness``
processes (:class:`~mock_services.common.testing.ServiceProcess`) with their logs in files,
waits for them with bounded polls, and kills every one it started (SIGCONT first, in case a
test froze it) in :meth:`Cluster.close`, printing the logs so a failing test shows them.
:mod:`.tcpproxy` gives the links between them latency and cuts. Used by the process tests; no socket leaves 127.0.0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from mock_services.common.testing import ServiceProcess, free_port, wait_until

FHIR_JSON = "application/fhir+json"


@dataclass
class Cluster:
    """Starts EHR and witness processes; :meth:`close` kills them all and prints their logs."""

    tmp_path: Path
    http: httpx.Client
    processes: list[ServiceProcess] = field(default_factory=list)
    promote_after: float = 1.0
    heartbeat: float = 0.1
    peer_timeout: float = 0.5

    def spawn(self, name: str, role: str, port: int, peer_url: str | None, *extra: str) -> ServiceProcess:
        """An EHR instance (datacenter ``dc-<last letter of name>``, db ``<name>.sqlite``)."""
        db = self.tmp_path / f"{name}.sqlite"
        args = ["--name", name, "--datacenter", f"dc-{name[-1]}", "--role", role, "--host", "127.0.0.1"]
        args += ["--port", str(port), "--db", str(db), "--promote-after", str(self.promote_after)]
        args += ["--heartbeat-interval", str(self.heartbeat), "--peer-timeout", str(self.peer_timeout), *extra]
        if peer_url is not None:
            args += ["--peer-url", peer_url]
        process = ServiceProcess(name, "mock_services.ehr", args, port, self.tmp_path / f"{name}.log", db)
        process.start()
        self.processes.append(process)
        return process

    def spawn_witness(self, name: str = "witness") -> ServiceProcess:
        port = free_port()
        args = ["--name", name, "--port", str(port), "--db", str(self.tmp_path / f"{name}.sqlite")]
        process = ServiceProcess(name, "mock_services.witness", args, port, self.tmp_path / f"{name}.log")
        process.start()
        self.processes.append(process)
        self.wait_healthy(process)
        return process

    def restart(self, process: ServiceProcess) -> None:
        process.start()

    def wait_healthy(self, process: ServiceProcess, timeout: float = 10.0) -> float:
        return wait_until(
            lambda: self.http.get(f"{process.url}/health").status_code == 200, timeout, f"{process.name} /health"
        )

    def pair(
        self,
        *extra: str,
        a_peer_url: str | None = None,
        b_peer_url: str | None = None,
        a_port: int | None = None,
        b_port: int | None = None,
    ) -> tuple[ServiceProcess, ServiceProcess]:
        """ehr-a (configured primary) and ehr-b (standby), healthy and in sync. Peer URLs
        default to each other's port (pass a proxy's URL, and the port the proxy forwards to,
        to put a link in between)."""
        port_a, port_b = a_port or free_port(), b_port or free_port()
        a = self.spawn("ehr-a", "primary", port_a, a_peer_url or f"http://127.0.0.1:{port_b}", *extra)
        b = self.spawn("ehr-b", "standby", port_b, b_peer_url or f"http://127.0.0.1:{port_a}", *extra)
        self.wait_healthy(a)
        self.wait_healthy(b)
        wait_until(lambda: self.standby_level(a), 5.0, "ehr-a primary with ehr-b level")
        return a, b

    def standby_level(self, primary: ServiceProcess) -> bool:
        status = self.http.get(f"{primary.url}/_replication/status").json()
        peer = status["peer"]
        return bool(status["role"] == "primary" and peer["reachable"] and peer["matched_lsn"] == status["lsn"])

    def create(self, process: ServiceProcess, mrn: str) -> httpx.Response:
        patient = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": mrn}]}
        return self.http.post(f"{process.url}/Patient", json=patient, headers={"Content-Type": FHIR_JSON})

    def has(self, process: ServiceProcess, resource_id: str) -> bool:
        return self.http.get(f"{process.url}/Patient/{resource_id}").status_code == 200

    def close(self) -> None:
        for process in self.processes:
            process.kill()
        for process in self.processes:
            print(f"----- {process.name} log -----\n{process.log.read_text(errors='replace')}")
