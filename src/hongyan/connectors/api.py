"""Endpoints vendors call back (receipts and inbound), one module per vendor.

Vendors push to ``/callbacks/<vendor>/{connector_id}/...``; these routes are not under /v1 and
take no API key: each vendor module authenticates the push the vendor's way (its signature, or
a secret token in the registered URL).
"""

from __future__ import annotations

import importlib
import importlib.util

from fastapi import APIRouter

router = APIRouter(tags=["vendor callbacks"])

# (module under hongyan.connectors that defines ``router``); absent modules are skipped.
CALLBACK_MODULES = (
    "aliyun_callbacks",
    "tencent_callbacks",
    "twilio_callbacks",
    "generic_http_callbacks",
)

for _name in CALLBACK_MODULES:
    _full = f"hongyan.connectors.{_name}"
    if importlib.util.find_spec(_full) is not None:
        router.include_router(importlib.import_module(_full).router)
