"""Preset topologies: YAML files in this folder, loaded exactly like a user's topology file
(:mod:`harness.experiment.topology_file`). ``reference.yaml`` is the reference hospital."""

from __future__ import annotations

import functools
from pathlib import Path

from harness.experiment.model import TopologyConfig
from harness.experiment.topology_file import read_topology_mapping

PRESETS_DIR = Path(__file__).resolve().parent


def preset_path(name: str) -> Path:
    return PRESETS_DIR / f"{name}.yaml"


@functools.cache
def preset_config(name: str) -> TopologyConfig:
    """The preset ``name`` as a validated topology section. A broken preset is a bug of the
    harness (a test builds every preset), so its errors propagate as they are."""
    data, _source = read_topology_mapping(preset_path(name))
    return TopologyConfig.model_validate(data)
