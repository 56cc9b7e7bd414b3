"""The experiment's ``load`` section: clinical users driven by Locust during the whole run.

Validated here (before anything starts): persona and task names against the catalogue,
weights (>= 0, at least one > 0 per persona and overall), user counts (>= 0, a peak > 0),
think time (min <= max), shape parameters. Whether a persona's services are in the topology
is checked with the topology (:mod:`harness.runner.targets`).
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from harness.durations import Duration, PositiveDuration
from harness.experiment.base import (
    MAX_USERS,
    MAX_WEIGHT,
    FrozenModel,
    Problem,
    StrictFloat,
    StrictInt,
    consistency_error,
)
from harness.load.catalogue import PERSONAS
from harness.safety.allowlist import parse_entry


class ConstantShape(FrozenModel):
    """The same number of users for the whole run."""

    type: Literal["constant"]


class RampShape(FrozenModel):
    """From ``start_users`` up to ``users`` over ``over``, then constant."""

    type: Literal["ramp"]
    start_users: StrictInt = Field(default=0, ge=0, le=MAX_USERS)
    """Users at the start."""

    over: PositiveDuration | None = None
    """How long the ramp lasts (default: the steady-state phase)."""


class MorningRoundsShape(FrozenModel):
    """A ward-round surge: ``base`` x users at start, up to all users at a quarter of the run,
    held until two thirds, then down to 60 % (08:00 rounds to late morning)."""

    type: Literal["morning_rounds"]
    base: StrictFloat = Field(default=0.4, ge=0, le=1)
    """Fraction of the peak users before and after the rounds."""


class ShiftChangeShape(FrozenModel):
    """Nursing handover: users log off (``dip`` x users) then the incoming shift logs on and
    reviews charts (``surge`` x users) around ``at``, then back to normal."""

    type: Literal["shift_change"]
    at: Duration | None = None
    """When the handover happens, from the start of the load (default: half-way)."""

    dip: StrictFloat = Field(default=0.5, ge=0, le=1)
    """Fraction of users left during the handover."""

    surge: StrictFloat = Field(default=1.3, ge=1, le=5)
    """Fraction of users right after it (the incoming shift's chart reviews)."""


class Stage(FrozenModel):
    """Until ``until`` (from the start of the load), aim at ``users`` users."""

    until: PositiveDuration
    users: StrictInt = Field(ge=0, le=MAX_USERS)


class StagesShape(FrozenModel):
    """Explicit stages (Locust's LoadTestShape style); after the last one the last user count stays."""

    type: Literal["stages"]
    stages: tuple[Stage, ...]

    @field_validator("stages")
    @classmethod
    def _increasing(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        # Checked here rather than with min_length: pydantic also reports "too short" when an
        # item is invalid, which would add a wrong second error.
        if not stages:
            raise ValueError("at least one stage is needed")
        for before, after in itertools.pairwise(stages):
            if after.until <= before.until:
                raise ValueError(f"stages must be in time order: {after.until:g}s comes after {before.until:g}s")
        return stages


LoadShape = Annotated[
    ConstantShape | RampShape | MorningRoundsShape | ShiftChangeShape | StagesShape, Field(discriminator="type")]
SHAPE_TYPES = ("constant", "ramp", "morning_rounds", "shift_change", "stages")


class PersonaLoad(FrozenModel):
    """A persona's share of the users and, optionally, its own task weights."""

    weight: StrictFloat = Field(default=1.0, ge=0, le=MAX_WEIGHT)
    """Relative share of the users (0 = not run)."""

    tasks: dict[str, Annotated[StrictFloat, Field(le=MAX_WEIGHT)]] | None = None
    """Task name -> weight (tasks left out are not run); default: the catalogue's weights."""


class ThinkTime(FrozenModel):
    """Pause between two tasks of one user, uniformly drawn."""

    min: Duration = 0.5
    max: Duration = 1.5

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}s) is above max ({self.max:g}s)")
        return self


class LoadConfig(FrozenModel):
    """Clinical load: Locust users acting as nurses, physicians, the lab system, a
    radiology modality and a scheduler, through the front doors, for the whole run."""

    users: StrictInt = Field(default=20, ge=1, le=MAX_USERS)
    """Peak number of simulated users."""

    spawn_rate: StrictFloat = Field(default=10.0, gt=0, le=MAX_USERS)
    """Users started (or stopped) per second when the shape changes."""

    shape: LoadShape = ConstantShape(type="constant")
    """How the number of users changes over the run: constant, ramp, morning_rounds,
    shift_change, or explicit stages."""

    personas: dict[str, PersonaLoad] | None = None
    """Persona -> weight or {weight, tasks}; default: every persona whose services run."""

    think_time: ThinkTime = ThinkTime()
    """Pause between two tasks of one user."""

    timeout: PositiveDuration = 2.0
    """Time after which a request counts as failed."""

    processes: StrictInt = Field(default=1, ge=1, le=64)
    """Locust processes on this machine: 1 runs one process; more runs Locust's master and
    that many worker processes (--processes)."""

    remote_workers: StrictInt = Field(default=0, ge=0, le=1000)
    """Workers started on other machines that the master waits for (docs/load.md)."""

    master_bind: str = "127.0.0.1"
    """Address the master listens on for remote workers."""

    master_port: StrictInt = Field(default=5557, ge=1, le=65535)
    """Port the master listens on for remote workers (Locust's default 5557)."""

    allow_hosts: tuple[str, ...] = ()
    """Hosts outside loopback that the load may target (staging only); empty = loopback only."""

    @field_validator("personas", mode="before")
    @classmethod
    def _weights_as_mappings(cls, personas: object) -> object:
        # ``nurse: 3`` is short for ``nurse: {weight: 3}``.
        if isinstance(personas, dict):
            return {name: {"weight": value} if isinstance(value, int | float) and not isinstance(value, bool)
                    else value for name, value in personas.items()}
        return personas

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...]) -> tuple[str, ...]:
        for host in hosts:
            if not host or "/" in host or (":" in host and not _is_ip(host)):
                raise ValueError(f"{host!r} is not a host name or IP address (no scheme, port or path)")
            parse_entry(host)  # the allow-list's own rule (harness.safety.allowlist): says what is wrong
        return hosts

    @model_validator(mode="after")
    def _consistent(self) -> LoadConfig:
        problems: list[Problem] = []
        for name, persona in (self.personas or {}).items():
            spec = PERSONAS.get(name)
            if spec is None:
                problems.append(Problem(("personas", name), _unknown("persona", name, list(PERSONAS))))
                continue
            if persona.tasks is None:
                continue
            for task, weight in persona.tasks.items():
                if task not in spec.task_names:
                    problems.append(Problem(("personas", name, "tasks", task),
                                            _unknown(f"task of {name}", task, list(spec.task_names))))
                elif weight < 0:
                    problems.append(Problem(("personas", name, "tasks", task), f"weight {weight:g} is negative"))
            if persona.weight > 0 and sum(w for w in persona.tasks.values() if w > 0) <= 0:
                problems.append(Problem(("personas", name, "tasks"),
                                        "the task weights must add up to more than 0 (or leave 'tasks' out)"))
        if self.personas is not None and not any(p.weight > 0 for p in self.personas.values()):
            problems.append(Problem(("personas",), "the persona weights must add up to more than 0"))
        if self.remote_workers and self.processes > 1:
            problems.append(Problem(("remote_workers",), "remote workers need processes: 1 (Locust's "
                                    "--processes cannot also wait for workers on other machines)"))
        if isinstance(self.shape, StagesShape) and max(s.users for s in self.shape.stages) <= 0:
            problems.append(Problem(("shape", "stages"), "at least one stage needs users above 0"))
        if problems:
            raise consistency_error(problems)
        return self

    def persona_loads(self) -> dict[str, PersonaLoad]:
        """The personas as written, or ``{}`` for the default."""
        return dict(self.personas or {})


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _unknown(kind: str, name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}"
