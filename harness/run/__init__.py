"""What belongs to a run as a whole, used by every part of it (backends, faults, load): its
journal (every process, fault and resource recorded before it acts, for rollback) and its tag
(an environment variable every process of the run carries, so nothing of it can hide)."""

from harness.run.journal import JOURNAL_FILE, Journal, JournalState, replay_journal
from harness.run.run_tag import tag_environment

__all__ = ["JOURNAL_FILE", "Journal", "JournalState", "replay_journal", "tag_environment"]
