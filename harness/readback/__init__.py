"""Reading back, after recovery, what the services hold: the end state the data checkers
(the acknowledged-write ledger) compare with what clients were told during the run.

Reads go through the front doors, with each service's own public API (FHIR search by the
client's identifier), so the same code works against real systems in staging. The result is
written into the run folder (``readback.jsonl``) before anything stops, so a run can be
re-judged offline from its folder.
"""

from harness.readback.fhir import READBACK_FILE, FoundResource, ReadBack, read_back_fhir, read_readback, write_readback

__all__ = ["READBACK_FILE", "FoundResource", "ReadBack", "read_back_fhir", "read_readback", "write_readback"]
