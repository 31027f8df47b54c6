"""The top costs in a ``py-spy record --format raw`` file: inclusive and self shares, a split.

    .venv/bin/python bench/spy_top.py PROFILE [--top 30] [--match hongyan/]
    .venv/bin/python bench/spy_top.py PROFILE --split "send_batch (hongyan/messages/api.py" ...

Each line of the file is one stack (outermost frame first, ``;``-separated, each frame
``function (path:line)``) and its sample count; every thread is sampled on its own. Stacks
are sorted into three kinds, by their outermost frame:

- the main thread (the event loop): it starts in ``runpy``;
- ORM work in a greenlet: SQLAlchemy's asyncio layer runs the ORM's sync code in a greenlet,
  whose stack py-spy shows from ``Session.execute`` on, without the coroutine that called it;
- other threads (``threading``): aiosqlite's connection threads, executor threads.

A frame's inclusive share counts every sample with it anywhere on the stack (once per
sample); its self share only the samples where it is the leaf. ``--split`` sorts the main
thread's samples by the first of the given substrings found on the stack (in the order
given), the rest by their leaf frame: what the event loop spent its time on.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_LINENO = re.compile(r":\d+\)$")


@dataclass
class Profile:
    """Samples by kind of stack, with the stacks of each kind."""

    stacks: dict[str, list[tuple[list[str], int]]] = field(
        default_factory=lambda: {"main": [], "greenlet": [], "threads": []}
    )

    def total(self, kind: str) -> int:
        return sum(n for _, n in self.stacks[kind])


def _kind(stack: list[str]) -> str:
    outer = stack[0] if stack else ""
    if outer.startswith("_run_module_as_main") or "runpy" in outer:
        return "main"
    if outer.startswith("Thread._bootstrap"):
        return "threads"
    return "greenlet"


def read(path: Path) -> Profile:
    """Every stack of a raw py-spy file, by kind; line numbers dropped."""
    profile = Profile()
    for line in path.read_text(errors="replace").splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        stack = [_LINENO.sub(")", f) for f in match.group(1).split(";")]
        stack = [f for f in stack if not f.startswith(("process ", "thread "))]
        if stack:
            profile.stacks[_kind(stack)].append((stack, int(match.group(2))))
    return profile


def shares(stacks: list[tuple[list[str], int]]) -> tuple[Counter[str], Counter[str]]:
    """(inclusive, self) sample counts per frame."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    for stack, count in stacks:
        for frame in set(stack):
            inclusive[frame] += count
        leaf[stack[-1]] += count
    return inclusive, leaf


def split(stacks: list[tuple[list[str], int]], needles: list[str]) -> Counter[str]:
    """Samples by the first needle found on the stack; otherwise by leaf frame."""
    found: Counter[str] = Counter()
    for stack, count in stacks:
        text = ";".join(stack)
        label = next((n for n in needles if n in text), None)
        found[label or f"(leaf) {stack[-1]}"] += count
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="list only frames containing this text")
    parser.add_argument("--split", nargs="*", default=[], help="substrings to sort samples by")
    args = parser.parse_args()
    profile = read(args.profile)
    main_n, green_n = profile.total("main"), profile.total("greenlet")
    threads_n = profile.total("threads")
    print(f"samples: main thread {main_n:,} + ORM in greenlets {green_n:,} "
          f"(event loop: {main_n + green_n:,}); other threads {threads_n:,}")  # fmt: skip
    loop = profile.stacks["main"] + profile.stacks["greenlet"]
    for title, counts in zip(("inclusive", "self"), shares(loop), strict=True):
        print(f"\nevent loop, top {args.top} by {title} share")
        shown = [(f, n) for f, n in counts.most_common() if args.match in f][: args.top]
        for frame, count in shown:
            print(f"  {count / max(main_n + green_n, 1):6.1%}  {frame}")
    if args.split:
        print("\nevent loop, split (greenlet ORM work apart: its caller is not on its stack)")
        parts = split(profile.stacks["main"], args.split)
        parts["ORM in a greenlet"] = green_n
        for label, count in parts.most_common(args.top):
            print(f"  {count / max(main_n + green_n, 1):6.1%}  {label}")
    print(f"\nother threads, top {min(args.top, 8)} leaf frames")
    for frame, count in shares(profile.stacks["threads"])[1].most_common(min(args.top, 8)):
        print(f"  {count:>7,}  {frame}")


if __name__ == "__main__":
    main()
