"""Clinical load: Locust users (personas) driving the hospital's services during a run.

Two sides, kept apart on purpose:

* the harness side -- :mod:`.catalogue` (personas as data), :mod:`.plan` (the contract),
  :mod:`.shapes` (experiment shape -> stages), :mod:`.command` (the Locust command line),
  :mod:`.session` (starts Locust, feeds its records into the timeline and live statistics,
  stops it, checks the counts), :mod:`.safety` (targets allowed);
* the Locust side -- ``locustfile.py`` and :mod:`.users`, only ever imported inside Locust's
  own processes (gevent monkey-patches the standard library at import).

This ``__init__`` imports nothing, so that importing the catalogue never pulls in either side.
"""
