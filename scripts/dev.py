#!/usr/bin/env python3
"""Developer entry point: ``python3 scripts/dev.py run|test|lint|setup``.

Needs only Python 3.11+. Creates ``.venv`` beside the project on first use, installs Hongyan with
the pinned versions of ``constraints.txt`` (again only when pyproject.toml or the constraints
change), then runs the command inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".hongyan-installed"


def _fingerprint(extras: str) -> str:
    digest = hashlib.sha256(extras.encode())
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def setup(extras: str = "test") -> None:
    """Create the virtual environment and install the project into it, if not done already."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older python3
        sys.exit(f"Hongyan needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    wanted = _fingerprint(extras)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    target = f".[{extras}]" if extras else "."
    print(f"installing hongyan{f'[{extras}]' if extras else ''} into {VENV}", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True, cwd=ROOT)
    subprocess.run([*pip, "-c", "constraints.txt", "-e", target], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def run(args: list[str]) -> int:
    setup(extras="test" if STAMP.exists() else "")
    return subprocess.call([str(BIN / "hongyan"), "run", *args], cwd=ROOT)


def test(args: list[str]) -> int:
    setup()
    missing = [
        v for v in ("HONGYAN_TEST_POSTGRES_URL", "HONGYAN_TEST_REDIS_URL") if not os.environ.get(v)
    ]
    if missing:
        print(
            f"NOTICE: {' and '.join(missing)} not set: the PostgreSQL/Redis suites are "
            "SKIPPED; only SQLite runs. .ci/run sets them.",
            flush=True,
        )
    code = subprocess.call([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT)
    return code


def lint(_: list[str]) -> int:
    setup()
    paths = [p for p in ("src", "tests", "bench", "scripts") if (ROOT / p).exists()]
    steps = [
        [str(BIN / "ruff"), "check", *paths],
        [str(BIN / "ruff"), "format", "--check", *paths],
        [str(BIN / "mypy")],
    ]
    for step in steps:
        print(
            "$",
            " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
            flush=True,
        )
        code = subprocess.call(step, cwd=ROOT)
        if code:
            return code
    return 0


COMMANDS = {"run": run, "test": test, "lint": lint}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in (*COMMANDS, "setup"):
        print(__doc__)
        return 2
    if sys.argv[1] == "setup":
        setup()
        return 0
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
