"""The traffic of the scale-out test: single and batch sends of every kind, over two APIs.

Per tenant: verification codes to numbers of their own (a few that the simulator makes
undelivered or rejects), batches of notifications and adverts, and bursts to one "hot" number
per kind, sent concurrently through both API processes, to hit the frequency limits from
several processes at once. A quarter of the other numbers start with ``SMPP_PREFIX``, which the
SMPP route takes; the rest go to the simulators.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.senders import Sender

SIM_PREFIX = "+86139"
SMPP_PREFIX = "+86186"
VERIFICATIONS = 100  # single sends per tenant, each to a number of its own
HOT_SENDS = {"verification": 8, "notification": 40}  # single sends per tenant to one number
BATCHES = {"notification": 2, "marketing": 2}  # batch requests per tenant and kind
BATCH_SIZE = 200
HOT_MARKETING = (2, 15)  # batch requests per tenant, each with this many copies of one number
# The rolling-hour limits set on every tenant; the hot numbers go past them.
LIMITS = {"verification": 3, "notification": 15, "marketing": 10}
CONCURRENCY = 12  # requests in flight at once, over both APIs


@dataclass
class Outcome:
    """What the APIs answered, over all requests."""

    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> message + tenant
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # (tenant, to, code)
    failed_requests: list[str] = field(default_factory=list)


class Numbers:
    """Numbers of their own, never ending in the simulator's special suffixes unless asked."""

    def __init__(self) -> None:
        self._serial = itertools.count(10_000_000)

    def fresh(self, *, smpp: bool = False, suffix: str = "") -> str:
        while True:
            serial = next(self._serial)
            if serial % 10_000 >= 10:  # 0001..0006 are the simulator's special numbers
                break
        digits = f"{serial:08d}"
        if suffix:
            digits = digits[: -len(suffix)] + suffix
        return (SMPP_PREFIX if smpp else SIM_PREFIX) + digits


class UnexpectedAnswerError(Exception):
    """An answer other than accepted (202) or limited (429)."""

    def __init__(self, answer: httpx.Response) -> None:
        super().__init__(f"{answer.request.url.path}: {answer.status_code} {answer.text[:500]}")


Request = Callable[[httpx.AsyncClient], Awaitable[None]]


class Traffic:
    """Builds the requests of every tenant, then sends them in a random order."""

    def __init__(self, senders: list[Sender], seed: int = 7) -> None:
        self.senders = senders
        self.numbers = Numbers()
        self.hot = {kind: self.numbers.fresh() for kind in LIMITS}
        self.outcome = Outcome()
        self.requests: list[Request] = []
        self._code = itertools.count(100_000)
        self._rng = random.Random(seed)
        for index, sender in enumerate(senders):
            self._plan(index, sender)
        self._rng.shuffle(self.requests)

    def _plan(self, index: int, sender: Sender) -> None:
        for i in range(VERIFICATIONS):
            suffix = {1: "0001", 2: "0002"}.get(i % 25, "")  # undelivered / rejected
            to = self.numbers.fresh(smpp=not suffix and i % 4 == 0, suffix=suffix)
            self.requests.append(self._single(index, sender, "verification", to))
        for kind, count in HOT_SENDS.items():
            for _ in range(count):
                self.requests.append(self._single(index, sender, kind, self.hot[kind]))
        for kind, count in BATCHES.items():
            for _ in range(count):
                tos = [self.numbers.fresh(smpp=j % 4 == 0) for j in range(BATCH_SIZE)]
                self.requests.append(self._batch(index, sender, kind, tos))
        requests, copies = HOT_MARKETING
        for _ in range(requests):
            tos = [self.hot["marketing"]] * copies
            self.requests.append(self._batch(index, sender, "marketing", tos))

    def _params(self, kind: str) -> dict[str, str]:
        code = next(self._code)
        if kind == "verification":
            return {"code": str(code)}
        return {"order": f"E{code}"} if kind == "notification" else {}

    def _single(self, index: int, sender: Sender, kind: str, to: str) -> Request:
        body = {
            "to": to,
            "sign": sender.sign,
            "template": sender.templates[kind],
            "params": self._params(kind),
        }

        async def send(http: httpx.AsyncClient) -> None:
            answer = await http.post("/v1/messages", json=body, headers=sender.key.basic)
            if answer.status_code == 202:
                self._accept(index, answer.json())
            elif answer.status_code == 429:
                self.outcome.refused.append((index, to, answer.json()["error"]["code"]))
            else:
                raise UnexpectedAnswerError(answer)

        return send

    def _batch(self, index: int, sender: Sender, kind: str, tos: list[str]) -> Request:
        body = {
            "sign": sender.sign,
            "template": sender.templates[kind],
            "recipients": [{"to": to, "params": self._params(kind)} for to in tos],
        }

        async def send(http: httpx.AsyncClient) -> None:
            answer = await http.post("/v1/messages/batch", json=body, headers=sender.key.basic)
            if answer.status_code != 202:
                raise UnexpectedAnswerError(answer)
            for message in answer.json()["accepted"]:
                self._accept(index, message)
            for item in answer.json()["rejected"]:
                self.outcome.refused.append((index, item["to"], item["error"]["code"]))

        return send

    def _accept(self, index: int, message: dict[str, Any]) -> None:
        self.outcome.accepted[message["id"]] = {**message, "tenant": index}

    async def run(self, api_urls: list[str]) -> None:
        """Send every request, alternating the APIs, CONCURRENCY at a time."""
        queue: asyncio.Queue[tuple[int, Request]] = asyncio.Queue()
        for item in enumerate(self.requests):
            queue.put_nowait(item)
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in api_urls]

        async def lane() -> None:
            while not queue.empty():
                number, request = queue.get_nowait()
                try:
                    await request(clients[number % len(clients)])
                except (httpx.HTTPError, UnexpectedAnswerError, ValueError, KeyError) as exc:
                    self.outcome.failed_requests.append(repr(exc))  # ValueError: not JSON

        try:
            await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        finally:
            for client in clients:
                await client.aclose()
