"""Plumbing shared by the small JSON services (labs, scheduling): event logging on stderr,
identity headers, Prometheus metrics, JSON errors and a uvicorn runner with a clean exit."""
