"""The Locust side of the clinical load: personas, payloads, the recorder and its transport.

Loaded by :mod:`harness.load.locustfile` inside Locust's own processes only. Two kinds of
modules live here, and the split matters:

* *pure* (importable anywhere, the harness and pytest included): ``recorder`` (a Locust
  request -> a timeline record dict, error kinds, the records file and the summary),
  ``clinical`` (FHIR resources and HL7 messages the personas send), ``dicom`` (a new DICOM
  Part 10 instance and its STOW-RS body), ``planning`` (the active stage, integer
  weights), ``safety`` (loopback-only targets, checked again in every Locust process);
* *Locust* (import ``locust``, which monkey-patches the standard library with gevent at
  import: never import them from the harness process): ``base`` (identity, patients and
  the request helper every persona shares), ``http_personas`` (nurse, physician, radiology
  modality, scheduler), ``mllp_user`` (the lab system speaking MLLP), ``factory`` (the
  plan's user classes), ``shape`` (the plan's stages as a LoadTestShape), ``transport``
  (records to the file, through Locust's own worker reports), ``lifecycle`` (graceful stop
  on the stop file and at the end of the last stage).

This package's ``__init__`` imports nothing, so importing a pure module never drags Locust in.
"""
