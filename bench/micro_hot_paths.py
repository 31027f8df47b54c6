"""Per-recipient costs outside the messages package, per call, beside the code before a change.

    .venv/bin/python bench/micro_hot_paths.py                       # this tree only
    git archive <commit> src | tar -x -C /tmp/before                # the code to compare with
    .venv/bin/python bench/micro_hot_paths.py --baseline-src /tmp/before/src [--rounds 5]

What S2 and S5 call once per recipient, each over the same campaign-like data
(``campaign_kit.recipients``: unique mobiles, a fifth written in other forms, params from
10,000 sets), measured in a child process per tree so that each imports its own ``hongyan``:

- ``render``: ``templates.render`` of the campaign template with one recipient's params;
- ``render + render_checked``: what ``messages.service._draft`` does per recipient (checks
  the params, then renders and scans), the compiled matchers fresh in the process cache;
- ``compliance.scan``: one rendered text against the shipped global list and an empty
  tenant list (the cache fresh: what every scan between two revision checks costs);
- ``NumberParser.parse``: a fresh parser over unique numbers (every call a cache miss);
- ``limits.acquire``: per recipient of a 1,000-item marketing batch on the in-memory
  limiter with the default rules (the tenant's policy fresh in the process cache),
  building the items included (the messages service builds one per recipient);
- ``limiter bytes / number``: the in-memory limiter's growth in RSS per distinct number
  and template counted (200,000 numbers), the figure that decides S5's peak RSS;
- ``new_id`` and ``new_ids`` (per id).

The trees run alternately, ``--rounds`` times each; the table shows each one's median and
the ratio (before / after: above 1 is faster or smaller now). The machine is shared:
compare ratios, not the microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
NUMBERS = 20_000
PARAM_CALLS = 20_000
BATCH = 1_000
MEMORY_NUMBERS = 200_000


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _per_call_us(seconds: float, calls: int) -> float:
    return seconds / calls * 1e6


def _timed(fn: Callable[[], Any], calls: int) -> float:
    """Microseconds per call of ``fn`` (which makes ``calls`` calls), GC off while timed."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return _per_call_us(time.perf_counter() - start, calls)
    finally:
        gc.enable()


def _context() -> Any:
    """An AppContext with settings only: the caches are filled by hand, no database is used."""
    from hongyan.api.context import AppContext
    from hongyan.config import Settings

    settings = Settings(compliance_refresh_secs=3600.0, limits_refresh_secs=3600.0)
    return AppContext(settings=settings, db=cast(Any, None), box=cast(Any, None), auth=None)  # type: ignore[arg-type]


def _warm_matchers(ctx: Any, tenant_id: str) -> None:
    from hongyan.compliance.cache import cache_of, monotonic
    from hongyan.compliance.matcher import Matcher, load_default_words

    cache = cache_of(ctx.caches, ctx.settings.compliance_refresh_secs)
    now = monotonic()
    cache.put("global", 1, Matcher.build(load_default_words()), now)
    cache.put(tenant_id, 0, Matcher.build([]), now)


def _template() -> Any:
    import campaign_kit

    from hongyan.models import Template

    return Template(
        id="tpl_01jd0000000000000000000000",
        tenant_id="ten_01jd0000000000000000000000",
        kind="marketing",
        international=False,
        name="points",
        content=campaign_kit.TEMPLATE,
        variables={},
        status="approved",
        version=1,
    )


def measure_templates(ctx: Any, tenant_id: str) -> dict[str, float]:
    import campaign_kit

    from hongyan.compliance import service as compliance
    from hongyan.templates import service as templates
    from hongyan.templates.render import render

    template = _template()
    params = [p for _, p in campaign_kit.recipients(PARAM_CALLS)]
    allowed = ctx.settings.link_allowed_domains

    def render_all() -> None:
        for p in params:
            render(template, p, allowed_domains=allowed)

    async def draft_all() -> None:
        for p in params:
            render(template, p, allowed_domains=allowed)
            await templates.render_checked(
                cast(Any, None), ctx=ctx, tenant_id=tenant_id, template=template, params=p
            )

    texts = [render(template, p).text for p in params]

    async def scan_all() -> None:
        for text in texts:
            await compliance.scan(cast(Any, None), ctx=ctx, tenant_id=tenant_id, text=text)

    return {
        "render": _timed(render_all, len(params)),
        "render + render_checked": _timed(lambda: asyncio.run(draft_all()), len(params)),
        "compliance.scan": _timed(lambda: asyncio.run(scan_all()), len(texts)),
    }


def measure_numbers() -> dict[str, float]:
    import campaign_kit

    from hongyan.numbers.parse import NumberParser

    raws = [raw for raw, _ in campaign_kit.recipients(NUMBERS, seed=11)]
    parser = NumberParser()

    def parse_all() -> None:
        for raw in raws:
            parser.parse(raw, region="CN", lang="en")

    return {"NumberParser.parse": _timed(parse_all, len(raws))}


def _policy(ctx: Any, tenant_id: str) -> None:
    from hongyan.limits import policy

    fresh = policy.build_policy(tenant_id, "Asia/Shanghai", None, frozenset())
    policy.cache_of(ctx).put(fresh, time.monotonic())


def _numbers(start: int, count: int) -> list[str]:
    return [f"+86139{(start + i) * 48_271 % 10**8:08d}" for i in range(count)]


async def _acquire_batches(ctx: Any, tenant_id: str, batches: list[list[str]]) -> None:
    from hongyan.limits.check import LimitItem, acquire

    template_id = "tpl_01jd0000000000000000000000"
    for msisdns in batches:
        items = [
            LimitItem(msisdn=m, kind="marketing", sign="鸿雁演示", template_id=template_id)
            for m in msisdns
        ]
        acquired = await acquire(ctx, cast(Any, None), tenant_id=tenant_id, items=items)
        assert not acquired.rejected


def measure_limits(tenant_id: str) -> dict[str, float]:
    ctx = _context()
    _policy(ctx, tenant_id)
    batches = [_numbers(k * BATCH, BATCH) for k in range(NUMBERS // BATCH)]
    per_item = _timed(lambda: asyncio.run(_acquire_batches(ctx, tenant_id, batches)), NUMBERS)
    # Memory: a fresh limiter, numbers made before the first reading (they are the caller's).
    ctx = _context()
    _policy(ctx, tenant_id)
    batches = [_numbers(10**7 + k * BATCH, BATCH) for k in range(MEMORY_NUMBERS // BATCH)]
    gc.collect()
    before = _rss_bytes()
    asyncio.run(_acquire_batches(ctx, tenant_id, batches))
    gc.collect()
    grown = (_rss_bytes() - before) / MEMORY_NUMBERS
    return {"limits.acquire": per_item, "limiter bytes / number": grown}


def measure_ids() -> dict[str, float]:
    from hongyan.ids import new_id, new_ids

    def one_by_one() -> None:
        for _ in range(NUMBERS):
            new_id("msg")

    return {
        "new_id": _timed(one_by_one, NUMBERS),
        "new_ids (per id)": _timed(lambda: new_ids("msg", NUMBERS), NUMBERS),
    }


def child() -> None:
    """Measure the tree this interpreter imports and print the figures as JSON."""
    from hongyan.kit import logging as hy_logging

    hy_logging.configure(level="WARNING")
    ctx = _context()
    tenant_id = "ten_01jd0000000000000000000000"
    _warm_matchers(ctx, tenant_id)
    figures: dict[str, float] = {}
    figures |= measure_templates(ctx, tenant_id)
    figures |= measure_numbers()
    figures |= measure_ids()
    figures |= measure_limits(tenant_id)  # last: it grows the heap
    print(json.dumps(figures))


def _run(src: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(
        [sys.executable, __file__, "--child"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return cast(dict[str, float], json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline-src", help="a src/ folder of the code to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"micro hot paths; {stamp}; nproc {os.cpu_count()}; load average {load}")
    trees = {"after": None} if not args.baseline_src else {"before": args.baseline_src}
    if args.baseline_src:
        trees["after"] = None
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for name in order:
            runs[name].append(_run(trees[name]))
    _report(runs)


def _report(runs: dict[str, list[dict[str, float]]]) -> None:
    names = list(runs)
    metrics = list(runs[names[-1]][0])
    medians = {n: {m: statistics.median(r[m] for r in runs[n]) for m in metrics} for n in names}
    head = "".join(f"{n:>14}" for n in names)
    print(f"\n{'per call (µs) / bytes':<28}{head}{'ratio':>9}")
    for metric in metrics:
        cells = "".join(f"{medians[n][metric]:>14.2f}" for n in names)
        ratio = ""
        if len(names) == 2 and medians["after"][metric] > 0:
            ratio = f"{medians['before'][metric] / medians['after'][metric]:>8.2f}x"
        print(f"{metric:<28}{cells}{ratio}")
    print(f"(median of {len(runs[names[0]])} rounds per tree, trees alternating)")


if __name__ == "__main__":
    main()
