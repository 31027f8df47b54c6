"""Routing: connectors and routes set by the operator, failover, circuit breakers and health.

Other domains use (``from hongyan.routing import service as routing``):

- ``routing.candidates(ctx, session, *, msg, carrier)``: connector ids to try, or NO_ROUTE.
- ``routing.send_with_failover(ctx, session, *, msgs, carrier_of=None)``: send a batch with
  failover; one ``routing.Outcome`` per message.
- ``routing.ensure_default_simulator(session, *, ctx)``: the first-run simulator and route.
- ``hongyan.routing.manager.get_manager(ctx)``: the live connectors (``set_sinks`` first).
"""
