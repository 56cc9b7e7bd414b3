"""Experiment files: the YAML format, its models, the loader and its located errors.

Typical use::

    from harness.experiment import load_experiment, ExperimentError

    loaded = load_experiment("experiments/dc-a-power-loss.yaml")   # raises ExperimentError
    experiment = loaded.experiment                                  # frozen pydantic models

Later layers that validate names against the topology report with
:func:`raise_issues` (``loaded`` + ``[(("faults", 0, "target"), "unknown link ...")]``) so
their errors carry the same ``file:line:column: yaml.path: message`` form.
"""

from harness.experiment.base import Loc, Problem, format_yaml_path
from harness.experiment.checks import (
    CHECK_TYPES,
    DEGRADED_CHECKS,
    AvailabilityCheck,
    BlastRadiusCheck,
    Check,
    DowntimeOrdersCheck,
    FailoverTimeCheck,
    JudgedPhase,
    LabTurnaroundCheck,
    LedgerCheck,
    PatientIdentityCheck,
    ReconnectionCheck,
    RecoveryOrderCheck,
    ScheduleStalenessCheck,
    SplitBrainCheck,
    StalenessCheck,
    TimeToDegradedCheck,
)
from harness.experiment.faults import (
    FAULT_TYPES,
    INSTANCE_FAULT_TYPES,
    LINK_FAULT_TYPES,
    BandwidthFault,
    BlackholeFault,
    ClockSkewFault,
    Direction,
    DiskFullFault,
    Fault,
    KillFault,
    LatencyFault,
    LinkDownFault,
    PartitionFault,
    PauseFault,
    PowerLossFault,
    ResetPeerFault,
    RestartFault,
)
from harness.experiment.halts import HaltCondition
from harness.experiment.issues import ExperimentError, ExperimentIssue
from harness.experiment.load import SHAPE_TYPES, LoadConfig, PersonaLoad
from harness.experiment.loader import LoadedExperiment, load_experiment, parse_experiment, raise_issues
from harness.experiment.model import (
    Experiment,
    FrontDoorConfig,
    Phases,
    ProbeConfig,
    ProbeMix,
    TopologyConfig,
)
from harness.experiment.schema import experiment_json_schema
from harness.experiment.source import Location, SourceMap

__all__ = [
    "CHECK_TYPES",
    "DEGRADED_CHECKS",
    "FAULT_TYPES",
    "INSTANCE_FAULT_TYPES",
    "LINK_FAULT_TYPES",
    "SHAPE_TYPES",
    "AvailabilityCheck",
    "BandwidthFault",
    "BlackholeFault",
    "BlastRadiusCheck",
    "Check",
    "ClockSkewFault",
    "Direction",
    "DiskFullFault",
    "DowntimeOrdersCheck",
    "Experiment",
    "ExperimentError",
    "ExperimentIssue",
    "FailoverTimeCheck",
    "Fault",
    "FrontDoorConfig",
    "HaltCondition",
    "JudgedPhase",
    "KillFault",
    "LabTurnaroundCheck",
    "LatencyFault",
    "LedgerCheck",
    "LinkDownFault",
    "LoadConfig",
    "LoadedExperiment",
    "Loc",
    "Location",
    "PartitionFault",
    "PatientIdentityCheck",
    "PauseFault",
    "PersonaLoad",
    "Phases",
    "PowerLossFault",
    "ProbeConfig",
    "ProbeMix",
    "Problem",
    "ReconnectionCheck",
    "RecoveryOrderCheck",
    "ResetPeerFault",
    "RestartFault",
    "ScheduleStalenessCheck",
    "SourceMap",
    "SplitBrainCheck",
    "StalenessCheck",
    "TimeToDegradedCheck",
    "TopologyConfig",
    "experiment_json_schema",
    "format_yaml_path",
    "load_experiment",
    "parse_experiment",
    "raise_issues",
]
