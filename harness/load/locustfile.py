"""The locustfile of the clinical load: everything comes from the plan named by
``HCHAOS_LOAD_PLAN`` (:mod:`harness.load.plan`).

Started by the harness as ``python -m locust -f harness/load/locustfile.py --headless ...``
(:mod:`harness.load.command`), standalone, as a master with forked workers
(``--processes``), or as a worker on another machine given the same plan file. At import it:

1. reads the plan and refuses targets that are not loopback unless the plan's
   ``extra.allow_hosts`` lists them (:mod:`.users.safety`);
2. defines, at module level where Locust looks for them, the user classes of the personas
   in the plan and no others (:mod:`.users.factory`), and the shape following the plan's
   stages (:mod:`.users.shape`);
3. at Locust's ``init``: the recorder's transport (:mod:`.users.transport`) and the graceful
   stop (:mod:`.users.lifecycle`), each playing the role of this process (standalone,
   master or worker).

Locust and gevent are imported here and in :mod:`harness.load.users` only, never in the
harness's own process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# Locust imports this file by path; make the repository importable even when the harness
# is not installed into the interpreter running Locust.
_REPOSITORY = Path(__file__).resolve().parents[2]
if str(_REPOSITORY) not in sys.path:
    sys.path.append(str(_REPOSITORY))

from locust import events  # noqa: E402
from locust.env import Environment  # noqa: E402

from harness.load.plan import PLAN_ENV, LoadPlan  # noqa: E402
from harness.load.users.factory import user_classes  # noqa: E402
from harness.load.users.lifecycle import GracefulStop  # noqa: E402
from harness.load.users.safety import check_targets  # noqa: E402
from harness.load.users.shape import shape_class  # noqa: E402
from harness.load.users.transport import RecordTransport, listen  # noqa: E402


def _read_plan() -> LoadPlan:
    path = os.environ.get(PLAN_ENV)
    if not path:
        raise RuntimeError(f"{PLAN_ENV} is not set: the harness starts Locust with it naming the load plan file")
    try:
        return LoadPlan.read(Path(path))
    except FileNotFoundError:
        raise RuntimeError(f"{PLAN_ENV}={path}: no such load plan file") from None


PLAN = _read_plan()
check_targets(PLAN)

globals().update(user_classes(PLAN, module=__name__))
PlanLoadShape = shape_class(PLAN, module=__name__)


def _install(environment: Environment, **_kwargs: Any) -> None:
    RecordTransport(PLAN).install(environment)
    GracefulStop(PLAN).install(environment)


listen(events.init, _install)
