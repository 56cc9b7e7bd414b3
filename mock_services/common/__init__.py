"""Plumbing shared by the mock services: ``serve`` (the uvicorn loop, clean exit on SIGTERM),
``middleware`` (identity headers, body limit, last-resort errors, metrics hook), ``eventlog``
(one stderr line per notable event), ``service`` (the small JSON services' metrics and error
shape), ``testing`` (free ports, bounded polls, cuttable links, threaded test servers,
service processes), and ``httpclient``, ``jsonbody``, ``openapi``, ``memtrace``."""
