"""Worker jobs of the routing domain, appended to the worker's JOBS on import."""

from __future__ import annotations

from hongyan.routing.health_store import PERSIST_SECS, persist_health
from hongyan.routing.quality import EVALUATE_SECS, evaluate
from hongyan.worker.jobs import JOBS, Job

# Each process writes its own view of connector health, so every worker runs this job.
JOBS.append(Job("routing_persist_health", PERSIST_SECS, persist_health))

# Every process judges from the same message rows; the stored state makes each switch logged once.
JOBS.append(Job("routing_quality", EVALUATE_SECS, evaluate))
