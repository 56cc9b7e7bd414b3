"""The run plan: what a run of an experiment would contact and do, and when -- built without
starting or contacting anything (``hchaos plan``, ``hchaos run --dry-run``), so that a change
board can approve it before a rehearsal touches a system.

It holds the resolved topology, every address the run would contact with the ``allow:``
decision on each (:mod:`harness.safety.contacts`), and the time-ordered actions
(:mod:`.schedule`); :mod:`.render` prints it as text or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.experiment import LoadedExperiment
from harness.runner.planning import plan_faults
from harness.runner.targets import topology_for
from harness.runplan.schedule import ScheduledAction, build_schedule
from harness.safety.allowlist import Resolver, system_resolver
from harness.safety.contacts import CheckedContact, decide_contacts, run_contacts
from harness.topology import Topology

PLAN_FORMAT = 1


@dataclass(frozen=True)
class RunPlan:
    loaded: LoadedExperiment
    backend: str
    topology: Topology
    contacts: tuple[CheckedContact, ...]
    actions: tuple[ScheduledAction, ...]

    @property
    def allowed(self) -> bool:
        return all(c.decision.allowed for c in self.contacts)

    @property
    def duration(self) -> float:
        """Planned seconds from the start of the steady state to the end of the recovery."""
        return self.loaded.experiment.total_duration

    def to_json(self) -> dict[str, Any]:
        exp, topo = self.loaded.experiment, self.topology
        return {
            "format": PLAN_FORMAT,
            "experiment": exp.name,
            "file": str(self.loaded.path),
            "backend": self.backend,
            "allowed": self.allowed,
            "duration_s": exp.total_duration,
            "time_origin": "the start of the steady state, after bring-up",
            "allow": list(exp.allow),
            "topology": {
                "sites": [{"name": s.name, "instances": [
                    {"name": i.name, "service": i.service, "role": i.role} for i in topo.instances if i.site == s.name]}
                    for s in topo.sites],
                "links": [{"name": link.name, "source": link.source, "target": link.target, "port": link.port}
                          for link in topo.links],
            },
            "contacts": [{"host": c.contact.host, "port": c.contact.port, "what": c.contact.what,
                          "kind": c.contact.kind, "allowed": c.decision.allowed, "reason": c.decision.reason,
                          "resolved": list(c.decision.addresses)} for c in self.contacts],
            "actions": [action.to_json() for action in self.actions],
        }


def build_run_plan(loaded: LoadedExperiment, resolver: Resolver = system_resolver) -> RunPlan:
    """The plan of a run of ``loaded`` on its backend (``experiment.backend``). Raises the
    loader's located error for an invalid experiment, as ``hchaos run`` would; a refused contact
    is *in* the plan (``allowed`` false), for the caller to report."""
    plans = plan_faults(loaded)
    topology = topology_for(loaded.experiment)
    backend = loaded.experiment.backend
    contacts = decide_contacts(loaded, run_contacts(loaded, topology, backend), resolver)
    actions = build_schedule(loaded.experiment, plans, topology)
    return RunPlan(loaded, backend, topology, tuple(contacts), tuple(actions))
