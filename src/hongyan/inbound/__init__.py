"""Inbound (MO) messages: stored, matched to a tenant, opt-out keywords, suppressions."""
