"""Kannel from Debian as an SMPP client (ESME) of an SMSC under test.

``Kannel`` writes a kannel.conf into a directory of the test's own, starts ``bearerbox`` (which
binds to the SMSC through an ``smsc = smpp`` group) and ``smsbox`` (whose ``sendsms`` HTTP
interface injects messages and which calls each message's ``dlr-url`` with its receipts), waits
until the SMPP link is online, and stops both by pid: SIGTERM to each one's own process group,
SIGKILL after a bound. Every wait is bounded in seconds.

Kannel facts the harness depends on (Kannel 1.4.5, Debian bookworm):

- bearerbox's admin HTTP page ``/status.xml?password=<status-password>`` lists each SMSC link
  with ``<status>online 12s</status>`` once bound (``connecting``, ``re-connecting``, ``dead``
  before that).
- sendsms answers ``202`` with ``0: Accepted for delivery`` (or ``3: Queued for later
  delivery``) once bearerbox has the message; refusals by the SMSC come later, as receipts.
- ``dlr-mask`` bits: 1 delivered to phone, 2 not delivered to phone, 4 queued on SMSC,
  8 delivered to SMSC (submit_sm_resp OK), 16 not delivered to SMSC (submit_sm_resp error).
  In ``dlr-url``, ``%d`` is that value, ``%A`` the SMSC's reply text (the receipt text, or
  ``NACK/<status>/<reason>``), ``%F`` the SMSC's message id, ``%p``/``%P`` sender/receiver.
- Without ``msg-id-type`` Kannel keeps the SMSC's message ids as plain strings, which is what
  an SMSC with non-numeric ids (Hongyan's ``msg_...``) needs for receipts to match.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import pytest

BEARERBOX = shutil.which("bearerbox") or shutil.which("bearerbox", path="/usr/sbin")
SMSBOX = shutil.which("smsbox") or shutil.which("smsbox", path="/usr/sbin")

requires_kannel = pytest.mark.skipif(
    BEARERBOX is None or SMSBOX is None,
    reason="Kannel is not installed (apt-get install kannel; .ci/run installs it)",
)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up here, not in the forked child: the child only makes the call.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child before exec: have the kernel SIGKILL it when the test process dies.

    This covers what no teardown can: a test run killed by SIGTERM or SIGKILL.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Boxes started and not yet reaped: killed by pid when the interpreter exits, so even a test
# run interrupted past every teardown leaves no bearerbox behind.
_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


SENDSMS_USER, SENDSMS_PASSWORD = "tester", "tester-secret"
STATUS_PASSWORD = "status-secret"
ALL_RECEIPTS = 1 | 2 | 4 | 8 | 16  # every dlr-mask bit (see the module docstring)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:  # all held at once, so no port is handed out twice
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


@dataclass(frozen=True)
class SmscLink:
    """The ``group = smsc`` of kannel.conf: where Kannel binds, as whom, and how."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    smsc_id: str = "peer"
    # Any further smsc-group settings, written as given (e.g. {"msg-id-type": "0x01"}).
    extra: dict[str, str] = field(default_factory=dict)

    def group(self) -> str:
        """The smsc group's text."""
        values = {
            "smsc": "smpp",
            "smsc-id": self.smsc_id,
            "host": self.host,
            "port": str(self.port),
            "transceiver-mode": "true",  # one bind for submit_sm and deliver_sm both ways
            "smsc-username": self.system_id,
            "smsc-password": self.password,
            "system-type": self.system_type,
            "reconnect-delay": "1",  # seconds; the default (10) is long for a test
            "max-pending-submits": "10",  # Kannel's window of unanswered submit_sm
            "enquire-link-interval": "30",
        } | self.extra
        return _group("smsc", values)


def _group(name: str, values: dict[str, str]) -> str:
    lines = [f"group = {name}"]
    lines += [f'{key} = "{value}"' for key, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SendsmsAnswer:
    """What smsbox's sendsms answered: HTTP status and body (``0: Accepted for delivery``)."""

    status: int
    body: str

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202) and self.body.startswith(("0:", "3:"))


class Kannel:
    """bearerbox + smsbox bound to one SMSC; an async context manager that always cleans up."""

    def __init__(self, workdir: Path, link: SmscLink, *, mo_url: str | None = None) -> None:
        if BEARERBOX is None or SMSBOX is None:
            pytest.skip("Kannel is not installed (apt-get install kannel)")
        self.workdir, self.link, self.mo_url = workdir, link, mo_url
        self.admin_port, self.smsbox_port, self.sendsms_port = free_ports(3)
        self.conf = workdir / "kannel.conf"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ended_by: dict[str, str] = {}  # box -> the signal that ended it ("SIGTERM"...)
        self._http = httpx.AsyncClient(timeout=5.0)

    def config(self) -> str:
        """The whole kannel.conf."""
        core = {
            "admin-port": str(self.admin_port),
            "admin-password": STATUS_PASSWORD,
            "status-password": STATUS_PASSWORD,
            "admin-allow-ip": "127.0.0.1",
            "smsbox-port": str(self.smsbox_port),
            "box-allow-ip": "127.0.0.1",
            "log-file": str(self.workdir / "bearerbox.log"),
            "log-level": "0",
            "access-log": str(self.workdir / "access.log"),
            "dlr-storage": "internal",
            "sms-resend-freq": "1",  # seconds before a temporarily refused message is resent
        }
        smsbox = {
            "bearerbox-host": "127.0.0.1",
            "bearerbox-port": str(self.smsbox_port),
            "sendsms-port": str(self.sendsms_port),
            "sendsms-interface": "127.0.0.1",
            "log-file": str(self.workdir / "smsbox.log"),
            "log-level": "0",
            "http-request-retry": "3",  # dlr-url calls the test's recorder missed
        }
        user = {
            "username": SENDSMS_USER,
            "password": SENDSMS_PASSWORD,
            "concatenation": "true",
            "max-messages": "5",  # long texts go out as up to 5 UDH-concatenated parts
        }
        groups = [_group("core", core), self.link.group(), _group("smsbox", smsbox)]
        groups.append(_group("sendsms-user", user))
        groups.append(_group("sms-service", self._mo_service()))
        return "\n".join(groups)

    def _mo_service(self) -> dict[str, str]:
        # Without a service smsbox answers every inbound (MO) message with a "Request Failed"
        # message back to the SMSC; max-messages 0 sends no reply at all.
        service = {"keyword": "default", "max-messages": "0"}
        if self.mo_url is None:
            return service | {"text": "unused"}
        return service | {"get-url": self.mo_url}

    async def start(self, online_within_secs: float = 20.0) -> None:
        """Write kannel.conf, start both boxes, and wait until the SMPP link is online."""
        self.conf.write_text(self.config())
        assert BEARERBOX is not None and SMSBOX is not None
        self._spawn("bearerbox", BEARERBOX)
        await self._until(self._admin_answers, online_within_secs, "bearerbox admin port")
        self._spawn("smsbox", SMSBOX)
        await self._until(self._sendsms_answers, online_within_secs, "smsbox sendsms port")
        await self.wait_online(online_within_secs)

    async def wait_online(self, within_secs: float = 20.0, *, online: bool = True) -> None:
        """Wait until bearerbox reports the SMPP link online (bound), or not (``online=False``)."""

        async def reached() -> bool:
            return (await self.link_status()).startswith("online") == online

        state = "online" if online else "offline"
        await self._until(reached, within_secs, f"SMPP link to port {self.link.port} {state}")

    async def link_status(self) -> str:
        """bearerbox's status of the SMPP link: ``online 3s``, ``connecting``, ``re-connecting``."""
        page = await self._http.get(
            f"http://127.0.0.1:{self.admin_port}/status.xml",
            params={"password": STATUS_PASSWORD},
        )
        root = ET.fromstring(page.text)  # noqa: S314 - our own child process's page
        for smsc in root.iter("smsc"):
            if smsc.findtext("id") == self.link.smsc_id:
                return (smsc.findtext("status") or "").strip()
        return ""

    async def send(
        self,
        to: str,
        text: str,
        *,
        sender: str,
        dlr_url: str | None = None,
        dlr_mask: int = ALL_RECEIPTS,
    ) -> SendsmsAnswer:
        """Inject one message through sendsms; texts beyond Latin-1 go as UCS-2 (coding=2)."""
        params = {
            "username": SENDSMS_USER,
            "password": SENDSMS_PASSWORD,
            "from": sender,
            "to": to,
            "text": text,
            "charset": "UTF-8",
            "smsc": self.link.smsc_id,
        }
        if not _latin1(text):
            params["coding"] = "2"
        if dlr_url is not None:
            params |= {"dlr-url": dlr_url, "dlr-mask": str(dlr_mask)}
        answer = await self._http.get(
            f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms", params=params
        )
        return SendsmsAnswer(answer.status_code, answer.text.strip())

    @property
    def pids(self) -> dict[str, int]:
        """The pid of each box started (and not yet stopped)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def logs(self, lines: int = 40) -> str:
        """The last lines of every log, to explain a failure."""
        out = []
        for name in ("bearerbox.log", "smsbox.log", "bearerbox.out", "smsbox.out"):
            path = self.workdir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join([*out, f"(whole logs and kannel.conf in {self.workdir})"])

    async def stop(self, grace_secs: float = 5.0) -> None:
        """Stop smsbox, then bearerbox: SIGTERM, SIGKILL after ``grace_secs``; by pid."""
        await self._http.aclose()  # closing twice is fine: stop() may run again in teardown
        for name in ("smsbox", "bearerbox"):  # smsbox first: it is bearerbox's client
            proc = self._procs.get(name)
            if proc is not None:
                self.ended_by[name] = await _terminate(proc, grace_secs)
                del self._procs[name]
                _LIVE.discard(proc)

    async def __aenter__(self) -> Kannel:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _spawn(self, name: str, binary: str) -> None:
        with (self.workdir / f"{name}.out").open("wb") as out:
            # Its own session and process group, so stopping it reaches nothing of ours.
            self._procs[name] = subprocess.Popen(
                [binary, "-v", "2", str(self.conf)],  # warnings up on stdout; all in log-file
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self._procs[name])

    async def _admin_answers(self) -> bool:
        return await _answers(self._http, f"http://127.0.0.1:{self.admin_port}/")

    async def _sendsms_answers(self) -> bool:
        return await _answers(self._http, f"http://127.0.0.1:{self.sendsms_port}/")

    async def _until(
        self, check: Callable[[], Awaitable[bool]], within_secs: float, what: str
    ) -> None:
        try:
            async with asyncio.timeout(within_secs):
                while True:
                    self._fail_if_exited()
                    with contextlib.suppress(httpx.HTTPError):
                        if await check():
                            return
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"{what}: not within {within_secs} s\n{self.logs()}") from None

    def _fail_if_exited(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{self.logs()}")


async def _answers(http: httpx.AsyncClient, url: str) -> bool:
    await http.get(url)  # any HTTP answer means the port is served
    return True


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


async def _terminate(proc: subprocess.Popen[bytes], grace_secs: float) -> str:
    """SIGTERM the process group led by ``proc``, SIGKILL after the grace; says which ended it."""
    for sig, wait_secs in ((signal.SIGTERM, grace_secs), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return "exited"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_secs):
                while proc.poll() is None:  # noqa: ASYNC110 - a child's exit has no event here
                    await asyncio.sleep(0.05)
        if proc.returncode is not None:
            return sig.name
    raise AssertionError(f"pid {proc.pid} survived SIGKILL")
