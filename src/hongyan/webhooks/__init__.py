"""Webhooks: tenant endpoints subscribed to events, signed deliveries with retries, the log.

Other domains call ``service.enqueue`` / ``service.enqueue_many`` inside their own transaction;
the worker job in ``tasks`` delivers. ``verify.verify_signature`` is what receivers run.
"""
