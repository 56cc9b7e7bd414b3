"""The experiment's ``halt`` section: conditions that stop a run early.

Like a circuit breaker on the experiment itself (ChaosToolkit's steady-state probes, Gremlin's
halt conditions): while the run goes on, each condition watches one service's live figures
(every request of the prober and the load, over a sliding window); when one is crossed the
faults stop at once, everything is healed, and the run ends ``aborted`` with the reason.
Typical use: a service that the experiment should not affect starts failing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from harness.durations import PositiveDuration
from harness.experiment.base import LABEL_PATTERN, NAME_MAX, FrozenModel, StrictFloat, StrictInt

HaltPhase = Literal["steady_state", "faults", "recovery"]


class HaltCondition(FrozenModel):
    """Stop the run when ``service``'s error rate or p95 over the last ``window`` crosses a bound."""

    service: str = Field(min_length=1)
    """The service watched, as named in the topology."""

    name: str | None = Field(default=None, pattern=LABEL_PATTERN, max_length=NAME_MAX)
    """Label used in reports. Default: 'halt-<index>'."""

    max_error_rate: StrictFloat | None = Field(default=None, ge=0, le=1)
    """Halt when the share of failed requests in the window is above this (0.2 = 20 %)."""

    max_p95: PositiveDuration | None = None
    """Halt when the 95th-percentile latency in the window is above this."""

    window: PositiveDuration = 5.0
    """Sliding window the figures are computed over."""

    min_requests: StrictInt = Field(default=10, ge=1, le=1_000_000)
    """Fewer requests than this in the window: not enough to judge, no halt."""

    phases: tuple[HaltPhase, ...] = Field(default=("steady_state", "faults"), min_length=1)
    """Phases in which the condition is watched. In steady_state it keeps faults out of a
    system that is already unhealthy."""

    @model_validator(mode="after")
    def _has_a_bound(self) -> HaltCondition:
        if self.max_error_rate is None and self.max_p95 is None:
            raise ValueError("a halt condition needs max_error_rate, max_p95 or both")
        return self

    def label_at(self, index: int) -> str:
        return self.name if self.name is not None else f"halt-{index}"
