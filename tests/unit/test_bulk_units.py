"""Units of bulk materialization: ids made in one go, the CSV reader, the bounded cache."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from hongyan import ids
from hongyan.messages.bulk import read_csv
from hongyan.messages.bulk_draft import Bounded, Recipient


def test_new_ids_are_what_new_id_makes_in_order() -> None:
    before = ids.new_id("msg")
    many = ids.new_ids("msg", 5_000)  # more than one millisecond's counter (4,096)
    after = ids.new_id("msg")
    run = [before, *many, after]
    assert run == sorted(run) and len(set(run)) == len(run)
    assert all(ids.looks_like(i, "msg") for i in many)
    times = [ids.id_time_ms(i) for i in run]
    assert times == sorted(times) and times[-1] - times[0] < 60_000
    assert ids.new_ids("led", 0) == []
    with pytest.raises(ValueError, match="unknown id prefix"):
        ids.new_ids("nope", 1)


def test_new_ids_encode_as_new_id_does() -> None:
    # The same 128-bit value in both encoders: the C path must give the Python path's digits.
    for value in (0, 1, (1 << 128) - 1, ids._uuid7_int(), 0x0123456789ABCDEF << 60):
        blob = (value << 30).to_bytes(20, "big")
        fast = base64.b32encode(blob).translate(ids._FROM_BASE32).decode()[:26]
        assert fast == ids._encode(value)


def test_read_csv_takes_the_number_out_id_and_params(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "\ufeffto,name,out_id,points\n13800138000,王先生,r1,120\n+86 139 0000 0001,,r2,5\n,x,,\n",
        encoding="utf-8",
    )
    assert list(read_csv(path)) == [
        Recipient("13800138000", {"name": "王先生", "points": "120"}, "r1"),
        Recipient("+86 139 0000 0001", {"points": "5"}, "r2"),
        Recipient("", {"name": "x"}, None),
    ]


def test_bounded_cache_starts_over_when_full() -> None:
    cache: Bounded[int, str] = Bounded(limit=3)
    for key in range(3):
        cache.put(key, str(key))
    assert cache.get(2) == "2"
    cache.put(3, "3")
    assert (cache.get(0), cache.get(3)) == (None, "3")
