"""Run the benchmarks one after another and print a summary table.

    .venv/bin/python bench/run.py                  # all of them, in the order below
    .venv/bin/python bench/run.py s1 s8            # only these
    .venv/bin/python bench/run.py s8 --postgres postgresql://postgres@127.0.0.1:5432/test

Each scenario runs as its own process (its output is shown as it comes); the figures are
taken from its ``BENCH-SUMMARY`` line, or read from the printed lines of the older scripts
(number cleaning, statistics). Without names, every scenario whose script is present runs.
With ``--postgres``, the scenarios that take it (marked True below) run a second time on that
server, after the others. The summary table has one line per figure: scenario, what, target,
figure, same-run baseline, ratio, met. Exits non-zero when a scenario failed to run; a missed
target is reported, not an error.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SUMMARY_PREFIX = "BENCH-SUMMARY "  # as harness.SUMMARY_PREFIX (not imported: keep this light)

Row = dict[str, Any]


def _cleaning_rows(lines: list[str]) -> list[Row]:
    rows: list[Row] = []
    label = figure = baseline = ""
    for line in lines:
        if match := re.match(r"\[(\w+)\] ([\d,]+) rows", line):
            label = f"{match.group(1)}, {match.group(2)} rows"
        fast = re.search(r"clean_csv \(full path\)\s+([\d,]+) numbers/s", line)
        bare = re.search(r"bare parse\+is_valid\s+([\d,]+) numbers/s", line)
        if bare:
            baseline = bare.group(1)
        if fast:
            figure = fast.group(1)
        if match := re.search(r"ratio clean/bare\s+([\d.]+)x", line):
            ratio = float(match.group(1))
            rows.append({"label": f"cleaning {label}", "figure": f"{figure}/s",
                         "baseline": f"{baseline}/s bare", "ratio": f"{ratio:.2f}x",
                         "target": ">= 0.6x", "met": ratio >= 0.6})  # fmt: skip
        if match := re.search(
            r"peak RSS (\d+) MiB \(idle child with the same imports: (\d+)", line
        ):
            rows.append({"label": "cleaning 1M rows, peak RSS", "figure": f"{match[1]} MiB",
                         "baseline": f"{match[2]} MiB idle", "ratio": "-", "target": "-",
                         "met": None})  # fmt: skip
    return rows


def _stats_rows(lines: list[str]) -> list[Row]:
    found = []
    for line in lines:
        match = re.search(r"^(.+?)\s+\d+\s+([\d.]+) ms\s+([\d.]+) ms\s+(\d+)x$", line)
        if match:
            found.append((match.group(1).strip(), float(match[2]), float(match[3]), int(match[4])))
    if not found:
        return []
    label, fast, slow, ratio = min(found, key=lambda f: f[3])
    return [{"label": f"stats, lowest ratio: {label}", "figure": f"{fast:.1f} ms",
             "baseline": f"{slow:.1f} ms GROUP BY", "ratio": f"{ratio}x faster",
             "target": "-", "met": None}]  # fmt: skip


# name -> (script, takes --postgres, reads figures from printed lines when no summary line)
SCENARIOS: dict[str, tuple[str, bool, Callable[[list[str]], list[Row]] | None]] = {
    "s1": ("s1_single_send.py", False, None),
    "s2": ("s2_batch_send.py", True, None),
    "s3": ("s3_smpp.py", True, None),
    "s4smpp": ("s4_smpp_receipts.py", True, None),
    "s4": ("s4_receipts.py", False, None),
    "s5": ("s5_materialize.py", True, None),
    "s6": ("s6_scale_out.py", False, None),  # PostgreSQL only: its own default server
    "s7": ("s7_memory.py", False, None),
    "s8": ("s8_backlog.py", True, None),
    "cleaning": ("number_cleaning.py", False, _cleaning_rows),
    "stats": ("stats_query.py", True, _stats_rows),
}


def run_one(name: str, postgres: str | None) -> tuple[list[Row], float, int]:
    """Run a scenario, echoing its output; its rows, seconds and exit code."""
    script, _, parse = SCENARIOS[name]
    cmd = [sys.executable, str(BENCH / script)]
    if postgres:
        cmd += ["--postgres", postgres]
    print(f"\n===== {name}: {' '.join(cmd[1:])}", flush=True)
    began = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        assert p.stdout is not None
        for line in p.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
    rows: list[Row] = []
    for line in lines:
        if line.startswith(SUMMARY_PREFIX):
            rows += json.loads(line[len(SUMMARY_PREFIX) :])["rows"]
    if not rows and parse is not None:
        rows = parse(lines)
    return rows, time.perf_counter() - began, p.returncode


def main() -> None:
    """Run the named scenarios (all by default) and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")  # fmt: skip
    parser.add_argument("--postgres", help="rerun the scenarios that take it on this server")
    args = parser.parse_args()
    # All of them by default: those whose script is in bench/ (scenarios land one by one).
    names = args.names or [n for n, (script, *_) in SCENARIOS.items() if (BENCH / script).exists()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    summary: list[tuple[str, Row]] = []
    failed = []
    runs = [(name, None) for name in names]
    if args.postgres:  # the scenarios that can also run on PostgreSQL, once more there
        runs += [(name, args.postgres) for name in names if SCENARIOS[name][1]]
    for name, postgres in runs:
        rows, seconds, code = run_one(name, postgres)
        if code != 0:
            failed.append(name)
        for row in rows:
            if postgres and "PostgreSQL" not in row["label"]:
                row["label"] += " (PostgreSQL)"
        summary += [(name, row) for row in rows]
        print(f"===== {name}: exit {code} after {seconds:.0f} s", flush=True)
    print_table(summary)
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
        sys.exit(1)


def print_table(summary: list[tuple[str, Row]]) -> None:
    """One line per figure: scenario, what, target, figure, baseline, ratio, met."""
    heads = ("id", "what", "target", "figure", "baseline", "ratio", "met")
    table = [heads]
    for name, row in summary:
        verdict = {True: "met", False: "MISSED", None: "-"}[row.get("met")]
        table.append((name, row["label"], row["target"], row["figure"], row["baseline"],
                      row["ratio"], verdict))  # fmt: skip
    widths = [max(len(str(r[i])) for r in table) for i in range(len(heads))]
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    for row in table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
