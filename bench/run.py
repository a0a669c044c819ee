#!/usr/bin/env python
"""Run every benchmark under bench/ (every *.py but this one and the _private helpers),
one process each.

    make bench                      # full size (minutes)
    make bench BENCH_ARGS=--smoke   # tiny size, as CI runs it

Each benchmark prints its figure as a ratio against a baseline measured in the
same run; docs/benchmarks.md records the full-size numbers.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    scripts = [s for s in sorted(HERE.glob("*.py")) if s.name != Path(__file__).name and not s.name.startswith("_")]
    for script in scripts:
        print(f"\n### {script.stem}", flush=True)
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nFailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
