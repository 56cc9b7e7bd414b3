"""Reading back, after recovery, what the services hold: the end state the data checkers
(the acknowledged-write ledger) compare with what clients were told during the run.

Reads go through the front doors, with each service's own public API (FHIR search by the
client's identifier, DICOMweb QIDO-RS by SOP Instance UID), at the service the topology says
holds the data (:mod:`.targets`: by what it speaks, never by its name), so the same code works
against any FHIR server or PACS, and real systems in staging. The result is
written into the run folder (``readback.jsonl``) before anything stops, so a run can be
re-judged offline from its folder.
"""

from harness.readback.keys import dicom_write_key, is_dicom
from harness.readback.lookup import READBACK_FILE, FoundResource, ReadBack, read_back, read_readback, write_readback
from harness.readback.targets import KeyBases, key_bases, key_locations

__all__ = ["READBACK_FILE", "FoundResource", "KeyBases", "ReadBack", "dicom_write_key", "is_dicom", "key_bases",
           "key_locations", "read_back", "read_readback", "write_readback"]
