"""Where a run may go: the allow-list (:mod:`.allowlist`) and every address a run would contact
(:mod:`.contacts`), checked before anything starts."""
