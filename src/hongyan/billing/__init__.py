"""Billing: prices, tenants' prepaid balances and the ledger (hold, confirm, refund, top-up).

Other domains call ``hongyan.billing.service``: ``quote`` prices a message, ``hold`` takes the
amount at acceptance and ``settle`` confirms or refunds it when the message's fate is known.
"""
