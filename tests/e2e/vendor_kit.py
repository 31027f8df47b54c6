"""`hongyan run` as an operator with vendor connectors uses it: keys from the first-run banner,
connectors and routes through the admin API, messages through the tenant API."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_run import _free_port, _start, _stop, _wait_ready
from tests.e2e.test_send_flow import _banner


@dataclass
class Hongyan:
    """A running `hongyan run` and the keys its first run printed."""

    proc: subprocess.Popen[str]
    base: str
    operator: tuple[str, str]
    tenant: tuple[str, str]
    sign: str

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = httpx.request(method, self.base + path, auth=self.operator, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def connector(self, name: str, kind: str, settings: dict[str, Any]) -> str:
        body = {"name": name, "kind": kind, "settings": settings}
        return str(self.admin("POST", "/v1/admin/connectors", json=body)["id"])

    def route(self, name: str, connector_id: str, priority: int) -> None:
        body = {"name": name, "connector_id": connector_id, "priority": priority}
        self.admin("POST", "/v1/admin/routes", json=body)

    def only_these_routes(self) -> None:
        """Disable the routes of the first run (the catch-all simulator route)."""
        for route in self.admin("GET", "/v1/admin/routes")["data"]:
            self.admin("PATCH", f"/v1/admin/routes/{route['id']}", json={"enabled": False})

    def send(self, to: str, text: str = "您的验证码是482913") -> str:
        body = {"to": to, "sign": self.sign, "body": text}
        answer = httpx.post(self.base + "/v1/messages", auth=self.tenant, json=body)
        assert answer.status_code in (200, 201, 202), answer.text
        return str(answer.json()["id"])

    def message(self, message_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.base}/v1/messages/{message_id}", auth=self.tenant)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def wait_final(self, ids: list[str], timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """The messages once none is queued, sending or sent any more."""
        done: dict[str, dict[str, Any]] = {}

        def all_final() -> bool:
            for message_id in ids:
                found = self.message(message_id)
                if found["status"] in ("queued", "sending", "sent", "scheduled"):
                    return False
                done[message_id] = found
            return True

        wait_for(all_final, timeout)
        return done


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def start_hongyan(data_dir: Path) -> Hongyan:
    """`hongyan run` on a free port, ready, with the keys of its first-run banner."""
    port = _free_port()
    proc = _start(data_dir, port)
    try:
        _wait_ready(port, proc)
        banner = "\n".join(_banner(proc))
    except BaseException:
        _stop(proc)
        raise

    def field(label: str) -> str:
        found = re.search(rf"{label}:\s+(\S+)", banner)
        assert found, banner
        return found.group(1)

    curl = next(line for line in banner.splitlines() if "/v1/messages" in line)
    sign = json.loads(shlex.split(curl)[-1])["sign"]
    return Hongyan(
        proc=proc,
        base=f"http://127.0.0.1:{port}",
        operator=(field("Operator key"), field("Operator secret")),
        tenant=(field("Tenant key"), field("Tenant secret")),
        sign=sign,
    )


def stop_hongyan(hongyan: Hongyan) -> str:
    return _stop(hongyan.proc)
