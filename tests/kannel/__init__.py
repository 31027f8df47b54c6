"""Kannel (Debian's bearerbox + smsbox) as a real SMPP client of an SMSC, driven from tests."""
