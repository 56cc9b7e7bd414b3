"""What a clinician sends (orders, registrations): every refusal names the field, and nothing
a 400 should refuse reaches the EHR or the queue."""

from __future__ import annotations

from typing import Any

import pytest

from mock_services.care.orders import InvalidRequest, parse_order, parse_registration

ORDER = {"kind": "medication", "display": "Paracétamol 1 g"}


@pytest.mark.parametrize(
    "authored",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"],  # valid ISO 8601, outside UTC's years
)
def test_an_authored_time_utc_cannot_hold_is_refused(authored: str) -> None:
    """Was a 500: the order's time is kept in UTC, and these fall in year 0 or 10000 there."""
    with pytest.raises(InvalidRequest, match="authored"):
        parse_order({**ORDER, "authored": authored}, "p000001")


def test_an_authored_time_is_kept_in_utc() -> None:
    order = parse_order({**ORDER, "authored": "2024-08-03T10:05:00+02:00"}, "p000001")
    assert order.authored == "2024-08-03T08:05:00.000Z" and order.resource["authoredOn"] == order.authored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"family": "Martin", "given": ["Léa"], "birth_date": "1990-02-30"}, "birth_date"),
        ({"family": "Martin", "given": [], "birth_date": "1990-02-03"}, "given"),
        ({"family": " ", "given": "Léa", "birth_date": "1990-02-03"}, "family"),
    ],
)
def test_registrations_name_what_is_wrong(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest, match=field):
        parse_registration(body)
