"""The plan's user classes: one Locust ``User`` class per persona in the plan, no other.

Imports Locust (see the package docstring). Each class subclasses its persona's base
(:mod:`.http_personas`, :mod:`.mllp_user`) with the plan's user weight, the plan's tasks and
task weights (integers of the same ratios, :func:`.planning.integer_weights`), think time
``between(*plan.think_time)``, and -- for HTTP personas -- ``plan.timeout`` as connect and
network timeout and the first target service as ``host`` (requests use absolute URLs).
Everything the plan gets wrong is a ``ValueError`` at import, naming it: better than a
Locust that runs and records nothing.
"""

from __future__ import annotations

from typing import Any

from locust import User, between

from harness.load.catalogue import PERSONAS
from harness.load.plan import LoadPlan
from harness.load.users.care_personas import WardClinicianUser
from harness.load.users.http_personas import NurseUser, PhysicianUser, RadiologyModalityUser, SchedulerUser
from harness.load.users.mllp_user import LabSystemUser
from harness.load.users.planning import integer_weights

BASES: dict[str, type[User]] = {
    "nurse": NurseUser,
    "physician": PhysicianUser,
    "lab_system": LabSystemUser,
    "radiology_modality": RadiologyModalityUser,
    "scheduler": SchedulerUser,
    "ward_clinician": WardClinicianUser,
}
"""The base class of every persona of :data:`harness.load.catalogue.PERSONAS`."""


def user_classes(plan: LoadPlan, module: str = __name__) -> dict[str, type[User]]:
    """Class name -> concrete user class, for the personas of ``plan`` only. ``module`` is
    the ``__module__`` the classes claim (the locustfile's, for Locust's messages)."""
    if not plan.personas:
        raise ValueError("the load plan has no personas: nothing to run")
    user_weights = integer_weights({name: p.weight for name, p in plan.personas.items()})
    classes: dict[str, type[User]] = {}
    for name, persona_plan in plan.personas.items():
        spec = PERSONAS.get(name)
        base = BASES.get(name)
        if spec is None or base is None:
            raise ValueError(f"unknown persona {name!r} in the load plan (known: {', '.join(PERSONAS)})")
        if not persona_plan.tasks:
            raise ValueError(f"persona {name!r} has no tasks in the load plan")
        for task_name in persona_plan.tasks:
            if task_name not in spec.task_names:
                raise ValueError(f"persona {name!r} has no task {task_name!r} (it has {', '.join(spec.task_names)})")
            service = spec.task(task_name).service
            if spec.protocol == "http" and service not in plan.http_targets:
                raise ValueError(f"task {name}.{task_name} needs the {service!r} service, which the plan's "
                                 f"http_targets do not have ({', '.join(plan.http_targets) or 'none'})")
        if spec.protocol == "mllp" and not plan.mllp_targets:
            raise ValueError(f"persona {name!r} speaks MLLP but the plan has no mllp_targets")
        task_weights = integer_weights(persona_plan.tasks)
        attributes: dict[str, Any] = {
            "__module__": module,
            "__doc__": spec.description,
            "abstract": False,
            "weight": user_weights[name],
            "tasks": {getattr(base, task): weight for task, weight in task_weights.items()},
            "wait_time": between(*plan.think_time),
            "plan": plan,
            "persona": name,
        }
        if spec.protocol == "http":
            first_service = spec.task(next(iter(persona_plan.tasks))).service
            attributes |= {"host": plan.http_targets[first_service], "network_timeout": plan.timeout,
                           "connection_timeout": plan.timeout}
        classes[base.__name__] = type(base.__name__, (base,), attributes)
    return classes
