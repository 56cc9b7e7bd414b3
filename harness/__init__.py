"""Hospital chaos harness: fault experiments against two-data-center hospital systems.

The public entry points are the ``hchaos`` CLI (:mod:`harness.cli`) and the runner
(:mod:`harness.runner`). Sub-packages each hold one concept: ``experiment`` (the YAML
files), ``topology`` (what runs where), ``toxiproxy`` (the fault proxy client),
``backends`` (how processes are started), ``faults`` (inject/heal and the journal),
``timeline`` (the run's event log), ``probe``, ``checks`` and ``runner``.
"""

__version__ = "0.1.0"
