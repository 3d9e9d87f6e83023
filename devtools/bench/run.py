"""`make bench`: every scenario in devtools/bench/scenarios/, against the production shape, in one table.

    .venv/bin/python devtools/bench/run.py [--quick] [--only overhead,submit] [--list]
        [--database-url postgres://postgres@127.0.0.1:5432/darkroom_bench]
        [--redis-url redis://127.0.0.1:6379/14] [--port-base 8940]
        [--web-processes 1] [--workers 1] [--worker-concurrency 4]

Scenarios run in their ORDER; one that raises becomes a failed row and the rest still run. The
table (scenario, target, median, p95, p99, throughput, peak RSS, met) is printed and written as
JSON to devtools/bench/results/<UTC timestamp>.json and devtools/bench/results/latest.json. The load generator
runs on the same machine as the stack, so every figure includes its CPU share.
"""

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from devtools import stack as stack_module  # noqa: E402
from devtools.bench.fixtures import BenchStack  # noqa: E402
from devtools.bench.scenarios import row  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/darkroom_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


class Context:
    def __init__(self, args):
        self.args = args
        self.quick: bool = args.quick
        self.python: str = sys.executable
        self.root: Path = ROOT
        self.results_dir: Path = ROOT / "devtools" / "bench" / "results"
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.redis_url: str = args.redis_url
        self.base_database_url: str = args.database_url
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.log_dir = self.results_dir / "logs" / self.run_id
        self._databases: dict[str, str] = {}
        self._stack: BenchStack | None = None

    def log(self, text: str) -> None:
        print(f"  · {text}", file=sys.stderr, flush=True)

    def database_url(self, name: str) -> str:
        """A fresh database for `name` (created once per run)."""
        if name not in self._databases:
            self._databases[name] = stack_module.database_url_for(self.base_database_url, name)
        return self._databases[name]

    def stack(self) -> BenchStack:
        if self._stack is None:
            stack_module.services_check(self.base_database_url, self.redis_url)
            self._stack = BenchStack(
                database_url=self.database_url("stack"),
                redis_url=self.redis_url, port_base=self.args.port_base,
                web_processes=self.args.web_processes, worker_processes=self.args.workers,
                worker_concurrency=self.args.worker_concurrency, log_dir=self.log_dir, log=self.log,
            )
        return self._stack.start()

    @property
    def stack_started(self) -> bool:
        return self._stack is not None and self._stack.started

    @property
    def rss(self) -> "stack_module.RssSampler | None":
        return self._stack.rss if self._stack is not None else None

    def close(self) -> None:
        if self._stack is not None:
            self._stack.stop()


def discover() -> list:
    import devtools.bench.scenarios as package

    modules = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"devtools.bench.scenarios.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 500), m.NAME))


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(rows: list[dict]) -> str:
    header = ["scenario", "target", "median ms", "p95 ms", "p99 ms", "throughput", "peak RSS MB", "peer", "ratio",
              "met"]
    lines = []
    for r in rows:
        throughput = "—" if r.get("throughput") is None else f"{_fmt(r['throughput'])} {r.get('throughput_unit', '')}".strip()
        met = {True: "yes", False: "NO", None: "—"}[r.get("met")]
        lines.append([r["scenario"], r.get("target") or "", _fmt(r.get("median_ms")), _fmt(r.get("p95_ms")),
                      _fmt(r.get("p99_ms")), throughput, _fmt(r.get("peak_rss_mb")), r.get("peer") or "—",
                      _fmt(r.get("ratio"), 2), met])
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=False)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)) for line in lines]
    details = [f"  {r['scenario']}: {r['detail']}" for r in rows if r.get("detail")]
    return "\n".join(out + ([""] + details if details else []))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs and smaller loads (a smoke test)")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
                        help="its database name is the prefix of the bench's databases (they are dropped and re-created)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
                        help="a Redis database for the bench alone: it is flushed")
    parser.add_argument("--port-base", type=int, default=int(os.environ.get("BENCH_PORT_BASE", "8940")))
    parser.add_argument("--web-processes", type=int, default=int(os.environ.get("BENCH_WEB_PROCESSES", "1")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "1")))
    parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("BENCH_WORKER_CONCURRENCY", "4")))
    parser.add_argument("--output", default="", help="also write the JSON here")
    args = parser.parse_args(argv)

    modules = discover()
    if args.list:
        for module in modules:
            print(f"{getattr(module, 'ORDER', 500):>4}  {module.NAME}")
        return 0
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = wanted - {m.NAME for m in modules}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(m.NAME for m in modules)}")
    if wanted:
        modules = [m for m in modules if m.NAME in wanted]

    ctx = Context(args)
    rows: list[dict] = []
    started = time.monotonic()
    try:
        for module in modules:
            ctx.log(f"{module.NAME} …")
            began = time.monotonic()
            try:
                produced = module.run(ctx) or []
                for item in produced:
                    rows.append(row(**item) if "scenario" not in item else {**row(item["scenario"]), **item})
            except Exception as error:  # a broken scenario is a failed row, never a missing table
                traceback.print_exc(file=sys.stderr)
                rows.append(row(module.NAME, met=False, detail=f"error: {type(error).__name__}: {error}"[:300]))
            ctx.log(f"{module.NAME} done in {time.monotonic() - began:.0f} s")
            # Rows so far, so an interrupted run still leaves its figures.
            (ctx.results_dir / "partial.json").write_text(json.dumps({"run_id": ctx.run_id, "rows": rows}, default=str))
    finally:
        ctx.close()

    result = {
        "run_id": ctx.run_id,
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "stack": {"web_processes": args.web_processes, "workers": args.workers,
                  "worker_concurrency": args.worker_concurrency},
        "rows": rows,
    }
    print()
    print(table(rows))
    print(f"\n{len(rows)} rows in {result['seconds']:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    text = json.dumps(result, indent=2, default=str)
    (ctx.results_dir / f"{ctx.run_id}.json").write_text(text)
    (ctx.results_dir / "latest.json").write_text(text)
    if args.output:
        Path(args.output).write_text(text)
    print(f"results: devtools/bench/results/{ctx.run_id}.json (and latest.json)")
    # A missed target is a result; only a scenario that crashed makes the command fail.
    return 1 if any(str(r.get("detail", "")).startswith("error:") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
