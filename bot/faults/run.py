"""`python -m bot faults`: run the fault scenarios and print the table (docs/reliability.md).

Each scenario gets a fresh stack (its own redis-server, sandboxes, web and worker
processes) on ports of one small range on 127.0.0.1, and the stack is stopped after it,
whatever happened. Nothing touches the machine's own Redis.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TextIO

from bot.bench.procs import Procs
from bot.faults.scenarios import SCENARIOS, Row, Scale
from bot.faults.stack import Ports, Stack

QUICK = Scale(backlog=200, kills=3, rate_seconds=6.0, fuzz=500, matrix_phones=2)


def ports(base: int) -> Ports:
    """redis on base, web on base+1, the six sandboxes on base+10..15."""
    return Ports(redis=base, web=base + 1, sandbox=[base + 10 + i for i in range(6)])


async def run(names: list[str], scale: Scale, port_base: int, out: TextIO,
              keep: Path | None = None) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="civictext-faults-") as scratch:
        tmp = keep or Path(scratch)
        for name in names:
            workdir = tmp / name
            workdir.mkdir(parents=True, exist_ok=True)
            stack = Stack(Procs(workdir), ports(port_base), workdir)
            started = time.monotonic()
            out.write(f"... {name}\n")
            out.flush()
            try:
                found = await SCENARIOS[name](stack, scale)
                got = found if isinstance(found, list) else [found]
            except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the rest
                tails = "\n".join(f"--- {p.name}\n{p.tail(8)}" for p in stack.procs.running)
                got = [Row(name, f"could not run: {exc!r}", False)]
                out.write(f"{traceback.format_exc()}\n{tails}\n")
            finally:
                stack.close()
            seconds = time.monotonic() - started
            for row in got:
                out.write(f"    {'ok' if row.ok else 'FAILED'} ({name}, {seconds:.0f} s): "
                          f"{row.fault}: {row.result}\n")
            out.flush()
            rows.extend(got)
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| fault | result | verdict |", "|---|---|---|"]
    lines += [f"| {r.fault} | {r.result} | {'ok' if r.ok else 'FAILED'} |" for r in rows]
    return "\n".join(lines)


def main(quick: bool, only: list[str] | None, port_base: int, out: TextIO = sys.stdout,
         keep: Path | None = None) -> int:
    names = only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        out.write(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}\n")
        return 2
    rows = asyncio.run(run(names, QUICK if quick else Scale(), port_base, out, keep))
    out.write("\n" + table(rows) + "\n")
    return 0 if all(r.ok for r in rows) else 1
