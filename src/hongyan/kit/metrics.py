"""Prometheus metrics (``hongyan_*``), defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "hongyan_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "hongyan_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
API_ERRORS = Counter("hongyan_api_errors_total", "Refusals by catalog code", ["code"])
WORKER_JOB_RUNS = Counter("hongyan_worker_job_runs_total", "Worker job runs", ["job", "outcome"])
