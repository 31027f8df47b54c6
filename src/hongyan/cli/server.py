"""``hongyan run`` (API + worker in one process), ``hongyan serve`` and ``hongyan worker``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
import uvicorn
from prometheus_client import start_http_server
from rich.panel import Panel

from hongyan import runtime
from hongyan.accounts.bootstrap import FirstRun, first_run
from hongyan.api.app import create_app
from hongyan.api.context import AppContext
from hongyan.cli.common import DataDirOption, console, ensure_schema, err_console, settings_for
from hongyan.config import Settings
from hongyan.routing import service as routing
from hongyan.worker.run import Worker

HostOption = typer.Option(None, "--host", help="Address to listen on [default: 127.0.0.1].")
PortOption = typer.Option(None, "--port", help="Port to listen on [default: 8080].")


def run(
    host: str | None = HostOption,
    port: int | None = PortOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Run Hongyan in one process: migrations, the API and the worker (the embedded default)."""
    settings = settings_for(data_dir, host=host, port=port)
    asyncio.run(_run(settings, api=True, worker=True, bootstrap=True))


def serve(
    host: str | None = HostOption,
    port: int | None = PortOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Run the API only (scale-out: several of these beside 'hongyan worker', on PostgreSQL)."""
    settings = settings_for(data_dir, host=host, port=port)
    _refuse_sqlite(settings, "serve")
    asyncio.run(_run(settings, api=True, worker=False, bootstrap=False))


def worker(data_dir: Path | None = DataDirOption) -> None:
    """Run the worker only (scale-out: as many as needed, on PostgreSQL)."""
    settings = settings_for(data_dir)
    _refuse_sqlite(settings, "worker")
    if settings.worker_metrics_port:  # a thread serving /metrics, beside the worker's loop
        start_http_server(settings.worker_metrics_port, addr=settings.host)
    asyncio.run(_run(settings, api=False, worker=True, bootstrap=False))


def _refuse_sqlite(settings: Settings, command: str) -> None:
    # SQLite has one writer: separate API and worker processes would fight over the file lock.
    if settings.is_sqlite:
        err_console.print(
            f"[red]'hongyan {command}' needs PostgreSQL[/red] (set HONGYAN_DATABASE_URL). "
            "On the embedded SQLite default, run everything in one process with 'hongyan run'."
        )
        raise typer.Exit(2)


async def _run(settings: Settings, *, api: bool, worker: bool, bootstrap: bool) -> None:
    ctx = AppContext.build(settings)
    await ensure_schema(ctx)
    if bootstrap:
        async with ctx.db.session() as session:
            created = await first_run(session, ctx=ctx)
            # The embedded default sends through the simulator until the operator adds more.
            await routing.ensure_default_simulator(session, ctx=ctx)
        _print_banner(settings, created)
    runtime.start(ctx)
    if api and worker and settings.smpp_server_enabled:  # 'hongyan run': one process does all
        from hongyan.smpp_server.server import SmppServer

        await SmppServer(ctx).start()  # stopped by runtime.stop
    loop_worker = Worker(ctx) if worker else None
    ctx.caches["worker"] = loop_worker
    tasks = []
    if loop_worker:
        tasks.append(asyncio.ensure_future(loop_worker.run()))
    try:
        if api:
            config = uvicorn.Config(
                create_app(ctx=ctx),
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                lifespan="on",
            )
            await uvicorn.Server(config).serve()
        elif loop_worker:
            await _wait_for_signal()
    finally:
        if loop_worker:
            loop_worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.stop(ctx)


async def _wait_for_signal() -> None:
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _print_banner(settings: Settings, created: FirstRun | None) -> None:
    base = settings.base_url
    where = settings.effective_database_url
    if created is None:
        console.print(
            Panel(
                f"Hongyan is starting at [bold]{base}[/bold] (API docs: {base}/docs)\n"
                f"Data: {where}\nKeys were printed on the first run; list them with "
                "'hongyan key list --operator' or create one with 'hongyan key create'.",
                title="鸿雁 Hongyan",
            )
        )
        return
    op, tk = created.operator, created.tenant_key
    console.print(
        Panel(
            f"Hongyan is starting at [bold]{base}[/bold] (API docs: {base}/docs)\n"
            f"Data: {where}\nSecret key: {settings.data_dir / 'secret.key'} — back it up.\n\n"
            f"Operator key:     {op.key.id}\n"
            f"Operator secret:  {op.secret}\n"
            f"Demo tenant:      {created.tenant_id}\n"
            f"Tenant key:       {tk.key.id}\n"
            f"Tenant secret:    {tk.secret}\n\n"
            "These secrets are shown only now. Try the command below.",
            title="鸿雁 Hongyan — first run",
        )
    )
    # Outside the panel and unwrapped, so it can be pasted as it is.
    console.print(
        f"curl -u {tk.key.id}:{tk.secret} {base}/v1/tenant", soft_wrap=True, highlight=False
    )
    body = json.dumps(
        {"to": "13800138000", "sign": created.sign, "body": "您的验证码是123456"},
        ensure_ascii=False,
    )
    console.print(
        f"curl -u {tk.key.id}:{tk.secret} {base}/v1/messages "
        f"-H 'Content-Type: application/json' -d '{body}'",
        soft_wrap=True,
        highlight=False,
    )
    console.print(
        "Messages go to the [bold]simulator[/bold] connector (nothing reaches a phone) "
        "until the operator adds real connectors."
    )
