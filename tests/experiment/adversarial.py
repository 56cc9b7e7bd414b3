"""Hostile experiment files of at most 64 KiB: the worst cases we know for the validator.

Each one aims at one cost: alias expansion, nesting, long numbers and strings, many keys,
many issues to report, many faults to plan. ``test_experiment_fuzz.py`` checks that each is
refused (or judged) with located issues; ``bench/bench_validate_adversarial.py`` measures
the time and memory of validating each one (target: <= 1 s and <= 200 MB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.experiment.limits import MAX_FILE_BYTES

HEAD = "version: 1\nname: adversarial\n"


@dataclass(frozen=True)
class Adversary:
    """A hostile file and what validating it must say: ``refused`` is a text that must be in
    the error (``None``: the file is valid)."""

    name: str
    text: str
    refused: str | None


def _fill(unit: Callable[[int], str], prefix: str = HEAD, suffix: str = "", limit: int = MAX_FILE_BYTES) -> str:
    """``prefix`` + as many ``unit(i)`` as fit in ``limit`` bytes + ``suffix``."""
    parts = [prefix]
    size = len(prefix.encode()) + len(suffix.encode())
    i = 0
    while True:
        piece = unit(i)
        if size + len(piece.encode()) > limit:
            break
        parts.append(piece)
        size += len(piece.encode())
        i += 1
    return "".join(parts) + suffix


def _alias_bomb(levels: int, width: int) -> str:
    lines = [HEAD, 'l0: &l0 ["lol"]\n']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]\n")
    return "".join(lines)


def _wide_aliases() -> str:
    # 100 aliases each worth ~98 values: just under the expansion limit, and every copy is a
    # fault pydantic must judge (and report on): the most issues aliases can buy.
    fault = "{type: latency, " + ", ".join(f"x{i}: {i}" for i in range(47)) + "}"
    return HEAD + f"spare: &f {fault}\nfaults: [" + ", ".join(["*f"] * 100) + "]\n"


def _deep_everywhere(count: int | None = None) -> str:
    # 31-level nestings, the deepest the composer allows, repeated (as many as fit, or ``count``).
    line = "[" * 31 + "]" * 31
    if count is not None:
        return HEAD + "".join(f"d{i}: {line}\n" for i in range(count))
    return _fill(lambda i: f"d{i}: {line}\n")


def _deep_alias() -> str:
    # One 31-deep node, aliased 99 times at depth 1: 3 100 levels of walking from 100 bytes.
    return HEAD + "a: &a " + "[" * 30 + "1" + "]" * 30 + "\nb: [" + ", ".join(["*a"] * 99) + "]\n"


def _many_faults() -> str:
    # Valid faults until the value limit: validated, named, targets checked, planned.
    return _fill(lambda i: f"  - {{type: latency, target: frontdoor-ehr-a, at: {i}ms, duration: 1s, latency: 1ms}}\n",
                 prefix=HEAD + "faults:\n")


def _many_bad_targets() -> str:
    # Every fault names an unknown link: one issue each, with a did-you-mean search.
    return _fill(lambda i: f"  - {{type: link_down, target: frontdoor-ehr-{i}, duration: 1s}}\n",
                 prefix=HEAD + "faults:\n")


def _many_unknown_references() -> str:
    # Checks naming faults that do not exist, against hundreds of fault names: each unknown
    # name is a did-you-mean search and a message listing names.
    faults = "".join(f"  - {{type: link_down, target: frontdoor-ehr-a, duration: 1s, name: f{i}}}\n"
                     for i in range(450))
    return _fill(lambda i: f"  - {{type: failover_time, max: 1s, fault: f{i}x}}\n", prefix=HEAD + "faults:\n" + faults
                 + "checks:\n")


def _long_recovery_order() -> str:
    # One check whose order and objectives list thousands of services (order x objectives lookups).
    order = ", ".join(f"s{i}" for i in range(2400))
    objectives = ", ".join(f"t{i}: 1s" for i in range(2400))
    return (HEAD + "faults: [{type: link_down, target: frontdoor-ehr-a, duration: 1s}]\n"
            f"checks:\n  - {{type: recovery_order, order: [{order}], objectives: {{{objectives}}}}}\n")


ADVERSARIES: tuple[Adversary, ...] = (
    Adversary("alias-bomb", _alias_bomb(9, 9), "once aliases are expanded"),
    Adversary("alias-bomb-64k", _alias_bomb(40, 99)[:MAX_FILE_BYTES].rsplit("\n", 2)[0] + "\n",
              "more than 100 aliases"),
    Adversary("wide-aliases", _wide_aliases(), "unknown field"),
    Adversary("too-many-aliases", HEAD + "a: &a 1\nb: [" + ", ".join(["*a"] * 5000) + "]\n", "more than 100 aliases"),
    Adversary("deep-nesting", HEAD + "d: " + "[" * 30_000 + "]" * 30_000 + "\n", "nested more than 32 levels"),
    Adversary("deep-everywhere", _deep_everywhere(), "more than 10000 values"),
    Adversary("deep-under-the-limits", _deep_everywhere(count=300), "unknown field"),
    Adversary("deep-alias", _deep_alias(), "unknown field"),
    Adversary("long-number", HEAD + "topology: {data: {seed: " + "9" * 60_000 + "}}\n", "number too long"),
    Adversary("many-long-numbers", _fill(lambda i: f"n{i}: {'9' * 31}\n"), "unknown field"),
    Adversary("long-string", HEAD + "description: " + "y" * 60_000 + "\n", "string too long"),
    Adversary("long-digit-durations", _fill(lambda i: f"  - {{type: link_down, target: l, duration: '{'1' * 63}'}}\n",
                                            prefix=HEAD + "faults:\n"), "a unit is missing"),
    Adversary("many-keys", _fill(lambda i: f"k{i}: 1\n"), "more than 10000 values"),
    Adversary("many-unknown-keys", HEAD + "".join(f"key{i}: 1\n" for i in range(4990)), "unknown field"),
    Adversary("many-duplicate-keys", HEAD + "".join("name: x\n" for _ in range(4990)), "duplicate key"),
    Adversary("many-faults", _many_faults(), None),
    Adversary("many-bad-targets", _many_bad_targets(), "unknown link"),
    Adversary("many-unknown-references", _many_unknown_references(), "unknown fault"),
    Adversary("long-recovery-order", _long_recovery_order(), "unknown service"),
    Adversary("unicode", HEAD + "description: '" + "\u00e9\u4e2d\U0001f3e5" * 455 + "'\n", None),
    Adversary("too-large", HEAD + "#" * MAX_FILE_BYTES + "\n", "larger than 64 KiB"),
)
"""Every hostile file, by name."""
