"""Worker jobs of the routing domain, appended to the worker's JOBS on import."""

from __future__ import annotations

from hongyan.routing.health_store import PERSIST_SECS, persist_health
from hongyan.worker.jobs import JOBS, Job

# Each process writes its own view of connector health, so every worker runs this job.
JOBS.append(Job("routing_persist_health", PERSIST_SECS, persist_health))
