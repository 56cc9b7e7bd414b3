"""The harness's error hierarchy and the exit codes they map to.

Exit codes are part of the CLI's contract (documented in the README):

* 0 -- every check passed
* 1 -- a check failed (or could not decide: ``unknown``)
* 2 -- invalid input: the experiment file, a CLI argument, a target not in the topology
* 3 -- infrastructure error: a tool is missing, a port is taken, a process did not start
* 4 -- aborted by ``hchaos abort``: faults healed, processes stopped, the run ended early

Every error carries a message meant for a person: what was wrong, where, and a hint.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_CHECK_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_INFRASTRUCTURE = 3
EXIT_ABORTED = 4
"""`hchaos abort` stopped the run: every fault healed, every process stopped, the run ended early."""


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    ``hint`` is an optional next step for the user (e.g. "run scripts/install-tools.sh").
    """

    exit_code: int = EXIT_INFRASTRUCTURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class InvalidInput(HarnessError):
    """The user gave us something we cannot use (exit code 2)."""

    exit_code = EXIT_INVALID_INPUT


class InfrastructureError(HarnessError):
    """Something the harness depends on failed or is missing (exit code 3)."""

    exit_code = EXIT_INFRASTRUCTURE


class ToolMissing(InfrastructureError):
    """A required external tool (Toxiproxy, HAProxy, ...) could not be found."""
