"""Run a scenario's measurements in a fresh Django process of their own.

Scenarios that time Django code in-process (no HTTP hop: the view, a service, the image pipeline)
each need their own settings (their database) and a clean peak-RSS figure, so `run(ctx)` starts
`python -m devtools.bench.scenarios.<name> --child` with the environment it asks for; the child calls
`django_setup()`, measures, and prints its rows as one JSON line after MARKER.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile

MARKER = "@@bench-rows@@ "
SECRET_KEY = "bench-only-secret-key-that-is-long-enough-for-django-0123456789"


def run_child(ctx, module: str, *, env: dict | None = None, args: list[str] | None = None,
              timeout: float = 3600) -> list[dict]:
    """Rows printed by `module` run with --child (and --quick in quick mode)."""
    child_env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING", "DEBUG": "false", "REDIS_URL": ctx.redis_url,
        "DARKROOM_VAR_DIR": tempfile.mkdtemp(prefix="darkroom-bench-"), **(env or {}),
    }
    command = [ctx.python, "-m", module, "--child", *(["--quick"] if ctx.quick else []), *(args or [])]
    done = subprocess.run(command, cwd=ctx.root, env=child_env, stdout=subprocess.PIPE, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode or not lines:
        tail = "\n".join(done.stdout.splitlines()[-5:])
        raise RuntimeError(f"{module} --child exited with {done.returncode}: {tail}")
    return json.loads(lines[-1][len(MARKER):])


def django_setup() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    django.setup()


def emit(rows: list[dict]) -> None:
    print(MARKER + json.dumps(rows, default=str), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_main(measure) -> None:
    """`if __name__ == "__main__": child_main(measure)`: measure(quick) -> rows."""
    if "--child" not in sys.argv:
        sys.exit(f"run it through devtools/bench/run.py (--only {sys.argv[0]}); --child is the harness's entry")
    django_setup()
    emit(measure("--quick" in sys.argv))
