"""Sending statistics from the maintained message_stat counters (never a scan of messages)."""
