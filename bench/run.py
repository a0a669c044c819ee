#!/usr/bin/env python
"""Run every benchmark under bench/ (files named bench_*.py), one process each.

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
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n### {script.stem}", flush=True)
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent).returncode != 0:
            failed.append(script.stem)
    if failed:
        print(f"\nFailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
