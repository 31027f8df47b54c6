"""Settings: one typed object, read from ``HONGYAN_*`` variables and an optional TOML file.

Precedence, highest first: environment, the file named by ``HONGYAN_CONFIG_FILE`` (or
``<data_dir>/hongyan.toml`` when present), then the defaults below.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

log = structlog.get_logger(__name__)

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret


def _default_data_dir() -> Path:
    return Path(os.environ.get("HONGYAN_DATA_DIR", "./data")).resolve()


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional config file; keys are the setting names without the prefix."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        explicit = os.environ.get("HONGYAN_CONFIG_FILE")
        path = Path(explicit) if explicit else _default_data_dir() / "hongyan.toml"
        self._values: dict[str, Any] = {}
        if path.is_file():
            self._values = tomllib.loads(path.read_text("utf-8"))
        elif explicit:
            raise FileNotFoundError(f"HONGYAN_CONFIG_FILE={explicit} does not exist")

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._values.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything Hongyan can be configured with; docs/reference/config.md lists each."""

    model_config = SettingsConfigDict(env_prefix="HONGYAN_", extra="ignore")

    # Where the embedded database, secret.key and stored files live (also --data-dir).
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Empty means an SQLite file in data_dir: the embedded default, nothing to install.
    database_url: str = ""
    # Optional: frequency limits and caches go to Redis when set, else stay in process memory.
    redis_url: str | None = None
    # Encrypts secrets at rest (API key secrets, connector credentials). Generated into
    # data_dir/secret.key on first run when unset; losing it makes stored secrets unreadable.
    secret_key: SecretStr | None = None

    # Address and port the API listens on (also --host / --port); 0.0.0.0 to serve others.
    host: str = "127.0.0.1"
    port: int = 8080
    # Public base URL used in error "doc" links and printed examples.
    public_url: str = ""

    # Logs: JSON lines for machines, or readable lines; auto picks readable on a terminal.
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    # Phone numbers in logs appear as 138****8000 unless the operator turns this off.
    log_mask_numbers: bool = True

    # The signed-request window; DESIGN.md fixes it at 15 minutes (nonces are kept that long).
    auth_signature_window_secs: int = 900
    # How long a verified key stays in the per-process cache before the database is asked again;
    # a revoked key stops working everywhere within this time.
    auth_key_cache_secs: float = 5.0

    # Worker loop: how long an idle worker sleeps between polls when nothing wakes it.
    worker_idle_poll_secs: float = 1.0
    # Scale-out: 'hongyan worker' serves its Prometheus metrics on this port of `host` (0: off).
    # The queue, dispatch and webhook figures live in the worker processes, which have no API.
    worker_metrics_port: int = 0
    # Send path: how long a process keeps the tenant, an approved sign or an approved template it
    # read, in seconds (a change made in this process applies at once; one made by another
    # process within this time, as prices and limits; 0 reads them on every send).
    messages_lookup_cache_secs: float = 1.0
    # Single sends (POST /v1/messages) are written together (group commit): at most this many
    # requests per transaction, which keeps one group's statements well under parameter limits.
    messages_group_max: int = 256
    # Milliseconds a group waits for more sends before writing, once recent groups held more
    # than one send (an idle process writes at once). Larger groups cost less per send; 0 never
    # waits (groups then hold only what queued while the previous one committed).
    messages_group_wait_ms: float = 5.0
    # SMPP server for tenants: off by default; 'hongyan run' starts it when true ('hongyan smpp
    # serve' runs it alone, for deployments on PostgreSQL with several processes).
    smpp_server_enabled: bool = False
    # Address and port it listens on; 0.0.0.0 to take binds from other machines (2775: the
    # port SMPP clients assume).
    smpp_server_host: str = "127.0.0.1"
    smpp_server_port: int = 2775
    # The system_id the server answers binds with (at most 15 characters).
    smpp_server_system_id: str = "HONGYAN"
    # A connection not bound within this many seconds is closed, so scanners and half-open
    # sockets do not hold server slots.
    smpp_server_bind_timeout_secs: float = 30.0
    # Keepalive: an enquire_link after this many seconds of silence from the client; without an
    # answer within the same time again the bind is dropped (and its deliveries kept for later).
    smpp_server_enquire_link_secs: float = 30.0
    # deliver_sm PDUs (receipts, MO) outstanding at once per bind: the client's window.
    smpp_server_window: int = 10
    # A deliver_sm unanswered this many seconds is taken as not delivered and sent again later.
    smpp_server_response_timeout_secs: float = 10.0
    # Parts of a concatenated submit wait this many seconds for the rest; then all parts are
    # refused (SMPP_PARTS_INCOMPLETE), since parts are answered together once complete.
    smpp_server_part_timeout_secs: float = 30.0
    # Submits accepted together in one transaction (group commit): more means fewer commits
    # under load, a bigger rollback when one fails.
    smpp_server_submit_batch: int = 200
    # How long a process trusts its compiled list of a tenant's approved templates; a template
    # approved elsewhere is matched by SMPP submits within this time.
    smpp_server_template_cache_secs: float = 5.0
    # Outbox: how often a process looks for deliver_sm to send when nothing woke it (receipts
    # written by another process arrive within this time).
    smpp_server_outbox_poll_secs: float = 1.0
    # Outbox: rows claimed and sent per round; and how long a claim holds before another process
    # may take the row (a process that died mid-send).
    smpp_server_outbox_batch: int = 100
    smpp_server_outbox_lease_secs: float = 30.0
    # Outbox: a deliver_sm the client refused (non-zero deliver_sm_resp) is sent again after
    # this many seconds, doubling per refusal up to ten minutes.
    smpp_server_outbox_retry_secs: float = 10.0
    # Outbox: undelivered deliver_sm are dropped (and logged) after this many days.
    smpp_server_outbox_keep_days: int = 3
    # Binds: each process refreshes its binds' rows this often; a row not refreshed for three
    # times this long (its process died) no longer counts against max_binds.
    smpp_server_bind_heartbeat_secs: float = 10.0
    # Connector bind leases (SMPP on PostgreSQL): a worker holds a bind this long after its last
    # heartbeat. A dead worker's binds are taken over once it has passed, and messages routed
    # to a connector that no worker has held for this long fail over to other routes.
    connector_bind_lease_secs: float = 15.0
    # ...renewed by a heartbeat this often: well below the lease, so one slow database round
    # trip never costs a bind.
    connector_bind_heartbeat_secs: float = 5.0
    # Health-based preference: final receipts of the last window_secs (from the message rows,
    # so every process judges alike) decide whether a connector is healthy or degraded.
    routing_quality_window_secs: int = 900
    # A connector with fewer final receipts in the window is not judged (keeps its state):
    # a handful of failures on a quiet connector says little.
    routing_quality_min_receipts: int = 50
    # Degraded below this share of delivered among final receipts...
    routing_quality_min_delivery_percent: float = 80.0
    # ...or when receipts come back later than this on average (sent_at -> done_at).
    routing_quality_max_receipt_latency_secs: float = 300.0
    # The share of its route weight a degraded connector keeps, so traffic shifts to its
    # healthier peers of the same priority but still probes it (0: last at its priority, kept).
    routing_quality_degraded_weight_percent: float = 10.0
    # Receipts: one that matches no recorded message part is held (its submit may not be
    # recorded yet) and matched later; after this many days it is dropped with a log line.
    receipt_hold_days: int = 3
    # Inbound: a message that is exactly one of these (trimmed, any case) opts its sender out
    # of the tenant's messages (suppression list, source opt_out); carriers require 退订/TD/T.
    inbound_opt_out_keywords: list[str] = Field(
        default_factory=lambda: [
            "退订",
            "TD",
            "T",
            "N",
            "STOP",
            "UNSUBSCRIBE",
            "STOPALL",
            "CANCEL",
            "END",
            "QUIT",
        ]
    )
    # Inbound: ...and one of these opts the sender back in (removes an opt_out suppression).
    inbound_opt_in_keywords: list[str] = Field(default_factory=lambda: ["START", "UNSTOP", "YES"])
    # Routing: how often a process asks the database whether connectors or routes changed; a
    # change made anywhere reaches every process's routing table and live connectors this fast.
    routing_refresh_secs: float = 1.0
    # Circuit breaker: this many retryable failures in a row open a connector's breaker...
    routing_breaker_failures: int = 5
    # ...as does this failure rate over the window, once the window holds min_attempts sends
    # (so a handful of early failures on a quiet connector does not open it).
    routing_breaker_failure_percent: float = 50.0
    routing_breaker_min_attempts: int = 20
    routing_breaker_window_secs: int = 60
    # An open breaker sends nothing to its connector for this long, then lets one probe batch
    # through: success closes it, failure opens it for another cool-off.
    routing_breaker_cooloff_secs: float = 30.0
    # Messages needing more segments are refused (TOO_MANY_SEGMENTS): handsets and carriers
    # handle long concatenations badly, and the cost surprises senders.
    messages_max_segments: int = 10
    # Idempotency-Key answers are replayed for this long, then forgotten.
    idempotency_keep_hours: int = 24
    # Dispatcher: messages claimed, sent and recorded together; one round trip each per batch.
    dispatch_batch_size: int = 200
    # Dispatcher: a worker that dies mid-batch loses its claim after this; a live worker renews
    # its claim every third of it while a batch is in flight.
    dispatch_lease_secs: float = 30.0
    # Dispatcher: one run keeps taking batches while they come back full, for at most this
    # long, so a backlog drains without waiting for the next tick but other jobs still run.
    dispatch_time_slice_secs: float = 2.0
    # Dispatcher: batches in flight at once per worker on PostgreSQL, so one batch's wait on a
    # connector overlaps another's database work (SQLite: always 1, it has one writer).
    dispatch_concurrency: int = 2
    # Dispatcher: a message that failed retryably on every connector is tried again after
    # base * 2^(attempt-1) seconds (capped), up to max attempts; then it fails with the last code.
    dispatch_retry_base_secs: float = 10.0
    dispatch_retry_max_secs: float = 600.0
    dispatch_max_attempts: int = 5
    # Webhooks: one POST (connect, send, answer) may take this long before it counts as failed;
    # short, so a slow endpoint holds up only its own deliveries.
    webhook_timeout_secs: float = 5.0
    # Webhooks: failed deliveries are retried with backoff for this long after the first
    # attempt, then dead-lettered (replayable by hand).
    webhook_retry_window_secs: int = 86_400
    # Webhooks: deliveries claimed per batch, and POSTs in flight at once per worker process.
    webhook_batch_size: int = 100
    webhook_concurrency: int = 20
    # Webhooks: endpoints on loopback or private addresses are accepted. True because the
    # embedded default and tests post to 127.0.0.1; set False on a shared installation so
    # tenants cannot make Hongyan call into its own network.
    webhook_allow_private_hosts: bool = True
    # Webhooks: how long a process trusts its cached list of a tenant's endpoints; an endpoint
    # changed on another process receives (or stops receiving) events within this time.
    webhook_endpoint_cache_secs: float = 5.0
    # Webhooks: endpoints per tenant, so one tenant cannot fan every event out endlessly.
    webhook_max_endpoints: int = 20
    # Webhooks: delivered and dead deliveries are deleted after this many days.
    webhook_retention_days: int = 30
    # Limits: Redis keys of frequency limits and caps start with this, so several installations
    # (or test runs) can share one Redis without counting each other's messages.
    limits_key_prefix: str = "hy:lim:"
    # Limits: how often a process asks the database whether a tenant's limits or whitelist
    # changed (one small query); a change made elsewhere applies everywhere within this time.
    limits_refresh_secs: float = 1.0
    # Billing: how often a process asks whether the price table changed (one small query; the
    # table is reloaded only when it did). A price change reaches every process within this time.
    billing_refresh_secs: float = 1.0

    # Template auto-review: a marketing template must carry one of these opt-out instructions
    # (compared ignoring case and spaces). Carriers refuse marketing text without one.
    template_opt_out_phrases: list[str] = Field(
        default_factory=lambda: [
            "拒收请回复R",
            "回T退订",
            "退订回T",
            "回TD退订",
            "退订回TD",
            "Reply STOP to opt out",
            "Reply STOP to unsubscribe",
        ]
    )
    # Links in templates and in variable values may only point to these domains or their
    # subdomains (env HONGYAN_LINK_ALLOWED_DOMAINS='["example.com"]'); empty: no links at all.
    link_allowed_domains: list[str] = Field(default_factory=list)
    # How often a process asks the database whether a sensitive-word list changed; a change
    # made by any process reaches every other process within this time (0: on every scan).
    compliance_refresh_secs: float = 1.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to ``data_dir/hongyan.db`` (SQLite, async driver)."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.data_dir / 'hongyan.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    def resolve_secret_key(self) -> bytes:
        """The secret key: from settings, or from data_dir (generated there on first use)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_KEY_FILE
        if path.exists():
            return path.read_text("ascii").strip().encode()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        log.warning(
            "secret key generated; back it up, stored secrets cannot be read without it",
            path=str(path),
        )
        return value.encode()


def normalize_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``sqlite://`` URLs and pick the async drivers."""
    for plain, async_form in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return async_form + url[len(plain) :]
    return url
