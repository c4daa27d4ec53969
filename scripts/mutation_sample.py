"""A stratified random sample of mutmut's mutants, and the score over it (TESTING.md).

The full run (about 2500 mutants) takes hours on two cores; a seeded sample, stratified by
area (model, losses, methods, the training step) in proportion to their mutant counts, gives
the score with a 95% interval in a fraction of that time.

    python scripts/mutation_sample.py names --n 300 > /tmp/sample.txt   # after `mutmut run`
    mutmut run $(cat /tmp/sample.txt)                                   # generated the mutants
    python scripts/mutation_sample.py score /tmp/sample.txt

Reads mutmut's own records (``mutants/**/*.py.meta``). Counted as killed: killed, timeout,
caught by the type checker, segfault. Not killed: survived and "no tests" (no selected test
runs the function: a gap, not a pass). Not checked mutants are reported, never scored.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -11, -9}
SURVIVED = {0}
NO_TESTS = {5, 33}


def records(root: Path = Path("mutants")) -> dict[str, int | None]:
    """Every mutant name -> its exit code (None: not checked)."""
    out: dict[str, int | None] = {}
    for meta in sorted(root.glob("src/**/*.py.meta")):
        out |= json.loads(meta.read_text())["exit_code_by_key"]
    return out


def area(name: str) -> str:
    """mmhvae.model.layers.x_conv__mutmut_3 -> model."""
    return name.split(".")[1]


def sample(names: list[str], n: int, seed: int) -> list[str]:
    """n names, each area in proportion to its count (at least one each), seeded."""
    by_area: dict[str, list[str]] = defaultdict(list)
    for name in sorted(names):
        by_area[area(name)].append(name)
    rng = random.Random(seed)
    chosen = []
    for group in by_area.values():
        k = max(1, round(n * len(group) / len(names)))
        chosen += rng.sample(group, min(k, len(group)))
    return sorted(chosen)


def wilson(killed: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion."""
    if total == 0:
        return (0.0, 1.0)
    p = killed / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (centre - half, centre + half)


def score(names: list[str], codes: dict[str, int | None]) -> str:
    """A text table: per area and in all, killed / scored with the interval."""
    rows = []
    for group in sorted({area(n) for n in names}) + ["all"]:
        members = [n for n in names if group in ("all", area(n))]
        c = Counter(_status(codes.get(n)) for n in members)
        scored = c["killed"] + c["survived"] + c["no tests"]
        low, high = wilson(c["killed"], scored)
        pct = 100 * c["killed"] / scored if scored else float("nan")
        rows.append(
            f"{group:10s} {c['killed']:4d} / {scored:4d} killed = {pct:5.1f}% "
            f"(95% CI {100 * low:.1f}-{100 * high:.1f}); survived {c['survived']}, "
            f"no tests {c['no tests']}, not checked {c['not checked']}"
        )
    survivors = [n for n in names if _status(codes.get(n)) in ("survived", "no tests")]
    rows += ["", f"not killed ({len(survivors)}):"] + [f"  {n}" for n in survivors]
    return "\n".join(rows)


def _status(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    return "killed"  # suspicious exits end the test run with an error: the mutant showed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    names = sub.add_parser("names", help="print a stratified sample of mutant names")
    names.add_argument("--n", type=int, default=300)
    names.add_argument("--seed", type=int, default=2026)
    scored = sub.add_parser("score", help="the score over the names in FILE (or all)")
    scored.add_argument("file", nargs="?", help="one mutant name per line (default: all)")
    args = parser.parse_args(argv)
    codes = records()
    if not codes:
        print("no mutants/: run `mutmut run` first (TESTING.md)", file=sys.stderr)
        return 1
    if args.command == "names":
        print("\n".join(sample(list(codes), args.n, args.seed)))
        return 0
    chosen = Path(args.file).read_text().split() if args.file else sorted(codes)
    print(score(chosen, codes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
