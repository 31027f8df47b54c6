"""Limits: per-number frequency limits, tenant request rate and daily/monthly caps.

Other domains call ``hongyan.limits.service``: ``acquire(ctx, session, tenant_id=..., items=[
LimitItem(...)])`` checks and counts a batch in one atomic step (process memory, or Redis when
``HONGYAN_REDIS_URL`` is set) and ``Acquired.release()`` gives the hits back when the request
fails later. See docs/how-to/limits.md.
"""
