"""The plan's stages as a Locust ``LoadTestShape``.

Imports Locust (see the package docstring). At ``t`` seconds after the load started, the
shape asks for the ``(users, spawn_rate)`` of the first stage whose ``until`` is after ``t``
(:func:`.planning.stage_at`), and for the end (``None``) after the last one. The end is
graceful: :mod:`.lifecycle` makes the runner's quit stop the users first (and, with
workers, wait for their last records) -- see there why.
"""

from __future__ import annotations

from typing import ClassVar

from locust import LoadTestShape

from harness.load.plan import LoadPlan, Stage
from harness.load.users.planning import stage_at


class PlanShape(LoadTestShape):
    """Follows ``stages`` (set by :func:`shape_class`)."""

    abstract: ClassVar[bool] = True
    stages: ClassVar[list[Stage]] = []

    def tick(self) -> tuple[int, float] | None:
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        return stage_at(self.stages, elapsed)


def shape_class(plan: LoadPlan, module: str = __name__) -> type[PlanShape]:
    """A concrete shape class following ``plan.stages`` (Locust instantiates it itself)."""
    if not plan.stages:
        raise ValueError("the load plan has no stages: nothing to run")
    attributes = {"__module__": module, "abstract": False, "stages": list(plan.stages)}
    return type("PlanLoadShape", (PlanShape,), attributes)
