"""Hospital-level schedules: ward staff rotas, operating rooms and scanners, 7 days from BASE_DATE.

Unlike patient data these depend on the hospital's size N (the patient count), which decides
how many units there are -- patient i's own data never depends on N:

* wards: ``max(2, N // 200)``; names from ``vocab.WARDS``, numbered ("cardiologie 2") past the
  list. One ``staff`` schedule per ward per day: 3 shifts (morning 07-15, afternoon 15-23, night
  23-07 next day), each with a médecin or interne, 2-3 infirmiers and 1-2 aides-soignants drawn
  from the ward's roster of 14.
* operating rooms: ``max(1, N // 2000)``; kind ``or``, 3-6 surgeries on weekdays, 0-2 (emergencies)
  on the weekend (2024-08-03 is a Saturday).
* scanners: ``max(1, N // 5000)``, alternately CT ("Scanner n") and MR ("IRM n"); kind ``scanner``,
  20-minute (CT) or 40-minute (MR) slots, 8-14 a day (half at the weekend).

OR and scanner slots reference patients ``Patient/p...`` among the N generated ones. With N = 0
there are no schedules. Every schedule is ``{"id", "kind", "unit", "date", "slots", "version": 1,
"last_modified"}``; ids are ``staff-<unit slug>-<date>``, ``or-<slug>-<date>``,
``scanner-<slug>-<date>``; slot times are ISO 8601 with the Paris offset. A slot always has
``start`` < ``end``.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from mock_services.synthetic import vocab
from mock_services.synthetic.model import BASE_DATE, PARIS, SCHEDULES_GENERATED_AT, patient_id, rng

DAYS = 7
SHIFTS = (("morning", time(7), 8), ("afternoon", time(15), 8), ("night", time(23), 8))
_SCANNER_PROCEDURES = {
    "CT": ("Scanner thoracique", "Scanner cérébral", "Scanner abdomino-pelvien", "Angioscanner thoracique"),
    "MR": ("IRM cérébrale", "IRM du genou", "IRM du rachis lombaire", "IRM hépatique"),
}


def ward_count(patients: int) -> int:
    return 0 if patients == 0 else max(2, patients // 200)


def or_count(patients: int) -> int:
    return 0 if patients == 0 else max(1, patients // 2000)


def scanner_count(patients: int) -> int:
    return 0 if patients == 0 else max(1, patients // 5000)


def ward_name(number: int) -> str:
    """Ward ``number`` (0-based): the base names, then "cardiologie 2" etc."""
    base = vocab.WARDS[number % len(vocab.WARDS)]
    rank = number // len(vocab.WARDS)
    return base if rank == 0 else f"{base} {rank + 1}"


def slug(name: str) -> str:
    """ASCII, lower case, dashes: ``"gastro-entérologie 2"`` -> ``"gastro-enterologie-2"``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_name.lower()).split())


def _days() -> list[date]:
    return [BASE_DATE + timedelta(days=d) for d in range(DAYS)]


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=PARIS)


def _schedule(kind: str, unit: str, day: date, slots: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"{kind}-{slug(unit)}-{day.isoformat()}",
        "kind": kind,
        "unit": unit,
        "date": day.isoformat(),
        "slots": slots,
        "version": 1,
        "last_modified": SCHEDULES_GENERATED_AT,
    }


def _person(r: random.Random) -> str:
    given = r.choice(vocab.FEMALE_GIVEN if r.random() < 0.6 else vocab.MALE_GIVEN)
    return f"{given} {r.choice(vocab.FAMILY_NAMES).title()}"


def staff_schedules(seed: int, patients: int) -> Iterator[dict[str, Any]]:
    """One staff rota per ward per day (see the module docstring)."""
    for w in range(ward_count(patients)):
        unit = ward_name(w)
        roster_rng = rng(seed, "roster", w)
        doctors = [(_person(roster_rng), "médecin") for _ in range(3)] + [(_person(roster_rng), "interne")]
        nurses = [(_person(roster_rng), "infirmier") for _ in range(6)]
        aides = [(_person(roster_rng), "aide-soignant") for _ in range(4)]
        for day in _days():
            r = rng(seed, "staff", w, day.isoformat())
            slots = []
            for shift, start, hours in SHIFTS:
                crew = [r.choice(doctors), *r.sample(nurses, r.randint(2, 3)), *r.sample(aides, r.randint(1, 2))]
                begin = _at(day, start)
                slots.append(
                    {
                        "shift": shift,
                        "start": begin.isoformat(),
                        "end": (begin + timedelta(hours=hours)).isoformat(),
                        "staff": [{"name": name, "role": role} for name, role in crew],
                    }
                )
            yield _schedule("staff", unit, day, slots)


def _bookings(
    r: random.Random, day: date, count: int, first: time, length: timedelta, procedures: tuple[str, ...], patients: int
) -> list[dict[str, Any]]:
    """``count`` back-to-back bookings from ``first`` with 0-30 min gaps."""
    slots = []
    moment = _at(day, first)
    for _ in range(count):
        end = moment + length
        slots.append(
            {
                "start": moment.isoformat(),
                "end": end.isoformat(),
                "patient": f"Patient/{patient_id(r.randint(1, patients))}",
                "procedure": r.choice(procedures),
            }
        )
        moment = end + timedelta(minutes=r.choice((0, 10, 15, 30)))
    return slots


def or_schedules(seed: int, patients: int) -> Iterator[dict[str, Any]]:
    """Operating-room bookings, then scanner bookings, one schedule per unit per day."""
    for room in range(1, or_count(patients) + 1):
        unit = f"Bloc opératoire salle {room}"
        for day in _days():
            r = rng(seed, "or", room, day.isoformat())
            weekend = day.weekday() >= 5
            count = r.randint(0, 2) if weekend else r.randint(3, 6)
            length = timedelta(minutes=r.choice((60, 90, 120)))
            yield _schedule("or", unit, day, _bookings(r, day, count, time(8), length, vocab.SURGERIES, patients))
    for n in range(1, scanner_count(patients) + 1):
        modality = "CT" if n % 2 else "MR"
        unit = f"{'Scanner' if modality == 'CT' else 'IRM'} {(n + 1) // 2}"
        length = timedelta(minutes=20 if modality == "CT" else 40)
        for day in _days():
            r = rng(seed, "scanner", n, day.isoformat())
            count = r.randint(8, 14) // (2 if day.weekday() >= 5 else 1)
            procedures = _SCANNER_PROCEDURES[modality]
            yield _schedule("scanner", unit, day, _bookings(r, day, count, time(8), length, procedures, patients))
