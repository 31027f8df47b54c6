"""Routing: connectors and routes set by the operator, failover, circuit breakers and health.

Other domains use (``from hongyan.routing import service as routing``):

- ``routing.candidates(ctx, session, *, msg, carrier)``: connector ids to try, or NO_ROUTE.
- ``routing.send_with_failover(ctx, session, *, msgs, carrier_of=None, pinned_of=None)``: send
  a batch with failover; one ``routing.Outcome`` per message (``handed_to``: another worker
  holds that connector's binds).
- ``routing.ensure_default_simulator(session, *, ctx)``: the first-run simulator and route.
- ``hongyan.routing.manager.get_manager(ctx)``: the live connectors (``set_sinks`` first).
- ``hongyan.routing.binds.ensure_started(ctx, owner=...)``: this worker's bind leases (SMPP,
  PostgreSQL); ``held_connectors()`` says whose pinned messages it claims.
"""
