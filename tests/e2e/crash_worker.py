"""``hongyan worker`` with a simulator that writes down every message it accepted.

Run as ``python -m tests.e2e.crash_worker`` (same settings as ``hongyan worker``). Submissions
must be counted across processes, one of which is killed with SIGKILL, so they go to a file:
``HONGYAN_TEST_SUBMIT_LOG`` gets one line per accepted message id, written (O_APPEND, one
write per batch) the moment the simulator accepts them. ``HONGYAN_TEST_SUBMIT_HOLD_MS`` then
holds the batch before returning, as a carrier that accepted a batch but is slow to answer:
a worker killed then has handed messages over without recording it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from hongyan.connectors import registry
from hongyan.connectors.base import OutboundSms, SendError, SendResult
from hongyan.connectors.simulator import SimulatorConnector


class LoggingSimulator(SimulatorConnector):
    """The simulator, plus a log of accepted message ids and a hold after accepting."""

    async def send(self, batch: Sequence[OutboundSms]) -> list[SendResult | SendError]:
        results = await super().send(batch)
        accepted = [
            sms.message_id
            for sms, result in zip(batch, results, strict=True)
            if isinstance(result, SendResult)
        ]
        if accepted:
            fd = os.open(os.environ["HONGYAN_TEST_SUBMIT_LOG"], os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, "".join(f"{mid}\n" for mid in accepted).encode())
            finally:
                os.close(fd)
        await asyncio.sleep(int(os.environ.get("HONGYAN_TEST_SUBMIT_HOLD_MS", "0")) / 1000)
        return results


def main() -> None:
    registry.REGISTRY["simulator"] = LoggingSimulator
    from hongyan.cli.main import main as hongyan

    sys.argv = ["hongyan", "worker"]
    hongyan()


if __name__ == "__main__":
    main()
