"""Starting and stopping what one process keeps running beside its database.

Connectors deliver receipts and inbound messages to the receipt and inbound services (their
sinks); the webhook sender, the limiter's Redis pool and live connectors are closed on the way
out so nothing is cut off mid-write.
"""

from __future__ import annotations

import structlog

from hongyan.api.context import AppContext

log = structlog.get_logger("hongyan.runtime")


def start(ctx: AppContext) -> None:
    """Point connectors at the receipt and inbound services of this process."""
    from hongyan.dlr import service as dlr
    from hongyan.routing.manager import get_manager

    get_manager(ctx).set_sinks(dlr.sinks(ctx))


async def stop(ctx: AppContext) -> None:
    """Close connectors, the webhook sender and the limiter; then the database."""
    from hongyan.routing.manager import get_manager
    from hongyan.webhooks import tasks as webhook_tasks

    steps = [("connectors", get_manager(ctx).close_all()), ("webhooks", webhook_tasks.stop(ctx))]
    smpp_server = ctx.caches.get("smpp_server")  # started by 'hongyan run' when enabled
    if smpp_server is not None:
        steps.insert(0, ("smpp server", smpp_server.stop()))
    limiter = ctx.caches.get("limiter")
    if limiter is not None:
        steps.append(("limiter", limiter.aclose()))
    for name, step in steps:
        try:
            await step
        except Exception:  # one part failing to close must not keep the others open
            log.exception("close failed", part=name)
    await ctx.db.dispose()
