"""When the front door counts as ready: every server of an active route UP, and for a primary
route its declared primary -- or, attached to a project that ran before (compose), any server
of the route, since a failover may have moved the primary for good."""

from __future__ import annotations

from harness.backends.docker.backend import _ServersUp

EHR = frozenset({("ehr", "ehr-a"), ("ehr", "ehr-b")})
LABS_A, LABS_B = frozenset({("labs", "labs-a")}), frozenset({("labs", "labs-b")})


def test_each_group_needs_one_server_up() -> None:
    ready = _ServersUp("h", (EHR, LABS_A, LABS_B))
    assert ready.satisfied_by({("ehr", "ehr-b"), ("labs", "labs-a"), ("labs", "labs-b")})  # ehr-b took over
    assert not ready.satisfied_by({("ehr", "ehr-b"), ("labs", "labs-a")})  # labs-b, active, is down
    assert not ready.satisfied_by({("labs", "labs-a"), ("labs", "labs-b")})  # no EHR server at all
    assert "ehr/ehr-a or ehr/ehr-b; labs/labs-a; labs/labs-b" in ready.description


def test_a_fresh_start_waits_for_the_declared_primary() -> None:
    ready = _ServersUp("h", (frozenset({("ehr", "ehr-a")}),))
    assert not ready.satisfied_by({("ehr", "ehr-b")}) and ready.satisfied_by({("ehr", "ehr-a")})
