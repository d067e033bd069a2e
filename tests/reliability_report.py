"""Figures from reliability runs (kill cycles, faults, fuzz cases, losses).

When POSTBACK_RELIABILITY_REPORT names a file, tests append their figures to it as JSON
lines; `python -m tests.reliability_report FILE` adds them up for docs/RELIABILITY.md.
Without the variable, recording does nothing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPORT_VARIABLE = "POSTBACK_RELIABILITY_REPORT"


def record(area: str, **figures: int) -> None:
    target = os.environ.get(REPORT_VARIABLE)
    if not target:
        return
    line = json.dumps({"area": area, "at": int(time.time()), **figures})
    with Path(target).open("a", encoding="utf-8") as report:
        report.write(line + "\n")


def summarize(path: Path) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        area = entry.pop("area")
        entry.pop("at", None)
        for name, value in entry.items():
            totals[area][name] += int(value)
    return {area: dict(figures) for area, figures in sorted(totals.items())}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.reliability_report REPORT_FILE", file=sys.stderr)
        return 2
    for area, figures in summarize(Path(argv[1])).items():
        listed = ", ".join(f"{name} {value}" for name, value in sorted(figures.items()))
        print(f"{area}: {listed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
