"""How big the fuzz, interruption and soak campaigns are: one setting for every campaign.

In the suite (``make test``, CI) each campaign runs a small, *deterministic* budget: a fixed
number of cases from a fixed seed, so a red run is reproducible and never flaky. Under
``make fuzz`` (``HCHAOS_CAMPAIGN=long``) the same tests run many more cases from fresh random
seeds, to find new defects; every long campaign is still bounded in count and in time.

* :func:`budget` -- how many cases a hand-rolled loop tries (``budget(ci=40, long=2000)``).
* :func:`rng` -- the campaign's random generator: seeded in the suite, fresh under ``long``
  (the seed is printed, so a failure found there can be replayed with ``HCHAOS_CAMPAIGN_SEED``).
* Hypothesis: the ``ci`` profile (derandomized, few examples) or ``long``, chosen here and
  loaded by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import random
import sys

LONG = os.environ.get("HCHAOS_CAMPAIGN", "") == "long"
"""True under ``make fuzz``."""

_SEED_ENV = "HCHAOS_CAMPAIGN_SEED"


def budget(ci: int, long: int) -> int:
    """The number of cases to try: ``ci`` in the suite, ``long`` under ``make fuzz``."""
    return long if LONG else ci


def rng(name: str) -> random.Random:
    """A random generator for the campaign ``name``: the same sequence on every suite run;
    under ``long`` a fresh seed (or ``$HCHAOS_CAMPAIGN_SEED``), printed for replay."""
    if not LONG and _SEED_ENV not in os.environ:
        return random.Random(f"hchaos-campaign-{name}")
    seed = int(os.environ.get(_SEED_ENV) or random.SystemRandom().randrange(2**32))
    print(f"campaign {name}: seed {seed} (replay with {_SEED_ENV}={seed})", file=sys.stderr)
    return random.Random(seed)


def register_hypothesis_profiles() -> None:
    """``ci``: derandomized, 60 examples, no deadline (a loaded 2-core machine is slow, and a
    deadline is a timed assertion); ``long``: 2 000 random examples, still no deadline."""
    from hypothesis import HealthCheck, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                              suppress_health_check=quiet, print_blob=True)
    settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=quiet,
                              print_blob=True)
    settings.load_profile("long" if LONG else "ci")
