"""Workflow engine scheduling timings: now the `workflow` scenario of `make bench` (bench/scenarios/workflow.py).

    .venv/bin/python bench/workflow_bench.py [--quick]   # same as: bench/run.py --only workflow
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    run = Path(__file__).resolve().parent / "run.py"
    os.execv(sys.executable, [sys.executable, str(run), "--only", "workflow", *sys.argv[1:]])
