"""kit.group_commit: groups form while a flush runs; outcomes are per item; failures stay local."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from hongyan.kit.group_commit import GroupCommitter, Outcome


class Store:
    """A flush that 'writes' ints: a negative one is refused alone, 13 fails its whole group."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.groups: list[list[int]] = []
        self.written: list[int] = []

    async def flush(self, items: Sequence[int]) -> list[Outcome[str]]:
        self.groups.append(list(items))
        await asyncio.sleep(self.delay)  # the "transaction": others arrive meanwhile
        if 13 in items:
            raise RuntimeError("unlucky group")  # nothing of the group is written
        outcomes: list[Outcome[str]] = []
        for item in items:
            if item < 0:
                outcomes.append(ValueError(f"refused {item}"))
            else:
                outcomes.append(f"ok {item}")
        self.written += [i for i in items if i >= 0]
        return outcomes


async def test_concurrent_items_share_a_flush_and_get_their_own_answer() -> None:
    store = Store()
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=100)
    first = asyncio.ensure_future(committer.submit(0))
    await asyncio.sleep(0.001)  # the first flush has started: the next ones queue behind it
    rest = await asyncio.gather(*(committer.submit(i) for i in range(1, 11)))
    assert await first == "ok 0"
    assert rest == [f"ok {i}" for i in range(1, 11)]
    assert store.groups == [[0], list(range(1, 11))]
    assert (committer.groups, committer.items) == (2, 11)


async def test_a_refusal_is_its_items_alone() -> None:
    store = Store()
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=100)
    outcomes = await asyncio.gather(
        *(committer.submit(i) for i in (1, -2, 3)), return_exceptions=True
    )
    assert outcomes[0] == "ok 1" and outcomes[2] == "ok 3"
    assert isinstance(outcomes[1], ValueError)
    assert store.groups == [[1, -2, 3]]  # one flush: a refusal does not split the group


async def test_a_failed_group_is_written_item_by_item() -> None:
    store = Store()
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=100)
    outcomes = await asyncio.gather(
        *(committer.submit(i) for i in (1, 13, 3)), return_exceptions=True
    )
    assert outcomes[0] == "ok 1" and outcomes[2] == "ok 3"
    assert isinstance(outcomes[1], RuntimeError)
    assert store.groups == [[1, 13, 3], [1], [13], [3]]
    assert store.written == [1, 3]


async def test_groups_are_capped_and_keep_arrival_order() -> None:
    store = Store(delay=0)
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=4)
    assert await asyncio.gather(*(committer.submit(i) for i in range(10))) == [
        f"ok {i}" for i in range(10)
    ]
    assert store.groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_canceled_caller_does_not_cancel_the_flush() -> None:
    store = Store(delay=0.05)
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=100)
    leaving = asyncio.ensure_future(committer.submit(1))
    staying = asyncio.ensure_future(committer.submit(2))
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert await staying == "ok 2"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert store.written == [1, 2]  # written all the same: the group was already committing


async def test_the_flush_must_answer_every_item() -> None:
    async def short(items: Sequence[int]) -> list[Outcome[str]]:
        return ["only one"] if len(items) > 1 else ["ok"]

    committer: GroupCommitter[int, str] = GroupCommitter(short, max_items=100)
    # The group's answer is malformed, so each item is flushed alone (and answered).
    assert await asyncio.gather(committer.submit(1), committer.submit(2)) == ["ok", "ok"]


async def test_a_group_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError):
        GroupCommitter(Store().flush, max_items=0)


async def test_an_idle_committer_writes_at_once_a_busy_one_waits_for_company() -> None:
    store = Store(delay=0)
    committer: GroupCommitter[int, str] = GroupCommitter(store.flush, max_items=4, wait_secs=60)
    # Alone: no waiting for company that is not coming (it would take a minute).
    assert await asyncio.wait_for(committer.submit(1), 5) == "ok 1"
    await asyncio.gather(*(committer.submit(i) for i in range(2, 6)))  # a full group: busy now
    early = asyncio.ensure_future(asyncio.gather(committer.submit(6), committer.submit(7)))
    await asyncio.sleep(0.05)
    assert not early.done()  # waiting for company...
    late = await asyncio.wait_for(asyncio.gather(committer.submit(8), committer.submit(9)), 5)
    assert (await early, late) == (["ok 6", "ok 7"], ["ok 8", "ok 9"])
    assert store.groups == [[1], [2, 3, 4, 5], [6, 7, 8, 9]]  # ...which made one full group
