"""Media pipeline timings: now the `derivatives` scenario of `make bench` (bench/scenarios/derivatives.py).

    .venv/bin/python bench/media_bench.py [--quick]   # same as: bench/run.py --only derivatives
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    run = Path(__file__).resolve().parent / "run.py"
    os.execv(sys.executable, [sys.executable, str(run), "--only", "derivatives", *sys.argv[1:]])
