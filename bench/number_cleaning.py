"""Number cleaning: ``clean_csv`` against bare ``phonenumbers.parse`` + ``is_valid_number``.

    .venv/bin/python bench/number_cleaning.py [--rows N] [--big-rows N]

1. Makes a synthetic CSV (fixed seed): CN mobiles in many written forms, repeats, landlines,
   garbage. Prints its exact-repeat rate (what the per-number cache can hit) and its E.164
   duplicate rate (what dedupe removes).
2. Times the full clean path (CSV in, parse, dedupe, CSV out) and the bare baseline (parse +
   validate over the same strings already in memory, no I/O), best of a few alternating
   rounds, on that mix and on an all-unique list (the cache's worst case).
3. Cleans a file of --big-rows rows in a child process that reports its own peak RSS (VmHWM),
   beside the peak RSS of an idle child that only imported the same modules and parsed one
   number.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import phonenumbers

from hongyan.numbers.clean import clean_csv
from hongyan.numbers.parse import NumberParser

SEED = 20240601
ROUNDS = 3
# Prefixes allocated to CN mobile carriers (MIIT); the 8 digits after them are random.
MOBILE_PREFIXES = [str(p) for p in (*range(130, 140), 147, 150, 151, 152, 153, 155, 156, 157)]
MOBILE_PREFIXES += [str(p) for p in (158, 159, 166, 173, 175, 176, 177, 178, *range(180, 190))]
MOBILE_PREFIXES += ["198", "199"]
AREA_CODES = ["010", "021", "020", "0755", "0571", "028"]
FULL_WIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


def _written_form(rng: random.Random, digits: str) -> str:
    """One of the ways people write a CN mobile in a spreadsheet."""
    form = rng.random()
    if form < 0.40:
        return digits
    if form < 0.55:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    if form < 0.65:
        return "0086" + digits
    if form < 0.75:
        return "86" + digits
    if form < 0.85:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if form < 0.93:
        return f"({digits[:3]}) {digits[3:7]} {digits[7:]}"
    return digits.translate(FULL_WIDTH)


def synthetic_numbers(count: int, *, repeats: bool = True) -> Iterator[str]:
    """Yield ``count`` inputs: ~72% new mobiles, ~15% repeats, ~8% landlines, ~5% garbage."""
    rng = random.Random(SEED)
    recent: list[str] = []  # a window of earlier mobiles, so memory stays flat for 1M rows
    for serial in range(count):
        kind = rng.random()
        if not repeats:
            # Unique by construction: the serial number is the subscriber part.
            yield _written_form(rng, f"{rng.choice(MOBILE_PREFIXES)}{serial:08d}")
        elif kind < 0.72 or not recent:
            digits = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
            if len(recent) < 10_000:
                recent.append(digits)
            else:
                recent[rng.randrange(len(recent))] = digits
            yield _written_form(rng, digits)
        elif kind < 0.87:
            # Half typed the same way again (a cache hit), half in another form.
            digits = rng.choice(recent)
            yield digits if rng.random() < 0.5 else _written_form(rng, digits)
        elif kind < 0.95:
            yield f"{rng.choice(AREA_CODES)}-{rng.randrange(2 * 10**7, 9 * 10**7)}"
        else:
            yield rng.choice(["n/a", "", "138001380", "12345", "tel: none", "1" * 15, "+999 123"])


def write_csv(path: Path, count: int, *, repeats: bool = True) -> None:
    """Write the synthetic list as a CSV with a few other columns, one row at a time."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "phone", "city"])
        for serial, raw in enumerate(synthetic_numbers(count, repeats=repeats)):
            out.writerow([serial, f"客户{serial}", raw, "上海"])


def bare_baseline(raws: list[str]) -> float:
    """Seconds for parse + is_valid_number over the strings, nothing else."""
    start = time.perf_counter()
    for raw in raws:
        # try/except, not contextlib.suppress: a context manager per number would slow the
        # baseline down and flatter the ratio.
        try:  # noqa: SIM105
            phonenumbers.is_valid_number(phonenumbers.parse(raw, "CN"))
        except phonenumbers.NumberParseException:
            pass
    return time.perf_counter() - start


def full_clean(path: Path, workdir: Path) -> tuple[float, dict[str, object]]:
    """Seconds for clean_csv over the file with a fresh parser, and its summary."""
    start = time.perf_counter()
    summary = clean_csv(
        path, workdir / "out.csv", workdir / "rej.csv", column="phone", region="CN", lang="zh"
    )
    return time.perf_counter() - start, summary.as_dict()


def compare(label: str, rows: int, workdir: Path, *, repeats: bool) -> None:
    """Print numbers/s of both paths, best of ROUNDS alternating rounds, and their ratio."""
    path = workdir / f"{label}.csv"
    write_csv(path, rows, repeats=repeats)
    raws = list(synthetic_numbers(rows, repeats=repeats))
    exact = 1 - len(set(raws)) / rows
    bare_form = sum(len(raw) == 11 and raw.isascii() and raw.isdigit() for raw in raws) / rows
    bare_best = clean_best = float("inf")
    summary: dict[str, object] = {}
    for _ in range(ROUNDS):
        bare_best = min(bare_best, bare_baseline(raws))
        elapsed, summary = full_clean(path, workdir)
        clean_best = min(clean_best, elapsed)
    reasons = summary["reasons"]
    assert isinstance(reasons, dict)
    print(
        f"\n[{label}] {rows:,} rows; exact repeated strings {exact:.1%}; "
        f"E.164 duplicates removed {reasons.get('DUPLICATE', 0) / rows:.1%}; "
        f"bare 11-digit form {bare_form:.1%}"
    )
    print(f"  summary: {json.dumps(summary, ensure_ascii=False)}")
    print(f"  bare parse+is_valid   {rows / bare_best:>10,.0f} numbers/s")
    print(f"  clean_csv (full path) {rows / clean_best:>10,.0f} numbers/s")
    print(f"  ratio clean/bare      {bare_best / clean_best:>10.2f}x   (target >= 0.6x)")


def child(mode: str, workdir: Path) -> None:
    """Run in a subprocess: clean the big file (or only import, when idle) and report."""
    start = time.perf_counter()
    rows = 0
    if mode == "big":
        _, summary = full_clean(workdir / "big.csv", workdir)
        rows = int(str(summary["rows"]))
    else:
        NumberParser().parse("13800138000", region="CN", lang="zh")  # load metadata, carriers
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_kib": peak_rss_kib()}))


def peak_rss_kib() -> int:
    """Peak RSS of this process since exec, in KiB."""
    # VmHWM, not ru_maxrss: Linux carries the parent's RSS at fork/vfork into the child's
    # ru_maxrss across exec, so ru_maxrss would report the bigger parent, not the child.
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS


def run_child(mode: str, workdir: Path) -> dict[str, float]:
    """Start ``child`` in a fresh interpreter and return what it printed."""
    cmd = [sys.executable, __file__, "--child", mode, "--workdir", str(workdir)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=540)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def big_run(rows: int, workdir: Path) -> None:
    """Clean ``rows`` rows in a child and print time, rate and peak memory vs an idle child."""
    start = time.perf_counter()
    write_csv(workdir / "big.csv", rows)
    size_mib = (workdir / "big.csv").stat().st_size / 2**20
    print(
        f"\n[big] wrote {rows:,} rows ({size_mib:.0f} MiB) in {time.perf_counter() - start:.1f} s"
    )
    idle = run_child("idle", workdir)
    big = run_child("big", workdir)
    print(
        f"  clean_csv {big['rows']:,.0f} rows in {big['seconds']:.1f} s "
        f"= {big['rows'] / big['seconds']:,.0f} numbers/s"
    )
    print(
        f"  peak RSS {big['peak_kib'] / 1024:.0f} MiB "
        f"(idle child with the same imports: {idle['peak_kib'] / 1024:.0f} MiB)"
    )


def main() -> None:
    """Parse arguments and run the scenario (or the child half of it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the ratio runs")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="rows in the big run")
    parser.add_argument("--child", choices=["big", "idle"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.workdir)
        return
    began = time.perf_counter()
    print(f"python {sys.version.split()[0]}, phonenumbers {phonenumbers.__version__}")
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-") as tmp:
        workdir = Path(tmp)
        compare("mixed", args.rows, workdir, repeats=True)
        compare("unique", args.rows, workdir, repeats=False)
        big_run(args.big_rows, workdir)
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
