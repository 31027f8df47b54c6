"""Delivery receipts from every connector, matched to message parts and aggregated."""
