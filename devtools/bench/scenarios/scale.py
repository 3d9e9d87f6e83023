"""Cost per generation as the data grows tenfold: 100,000 then 1,000,000 existing generations
(each with its image row and its reserve and capture ledger entries, so 200,000 then 2,000,000
ledger entries), dealt across 100 accounts, one of them the account being measured.

In a child process against a fresh PostgreSQL database, seeded to the small size, measured, grown
to the large size and measured again, N generations go through
the real services in order: submit (`generation_create`: limits, quote, reserve, publish), the
worker's claim, finish (`generation_finish` with a small PNG output: outputs stored, capture,
publish) and the My images page (`/images/` through the test Client). The provider call is the
only thing left out. Every SQL statement is timed (connection.execute_wrapper); the rows give the
SQL time, the query count, the PostgreSQL pages read (pg_stat_database: unlike times, they do not
move with the machine's load) and the CPU time per generation at both sizes, and their ratios.
Goal: pages read per generation at the large size ≤ 1.25 × at the small one, with no more
queries; flat means every per-generation query touches a bounded number of rows however large
the tables grow. Quick mode: 5,000 and 50,000.
"""

import statistics
import time

from devtools.bench.scenarios import row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child

NAME = "scale"
ORDER = 90
GOAL_RATIO = 1.25
ACCOUNTS = 100


def run(ctx) -> list[dict]:
    return run_child(ctx, "devtools.bench.scenarios.scale", env={
        "DATABASE_URL": ctx.database_url("scale"),
        # The bench submits faster than a person: the limits still run, at a height it can't reach.
        "RATE_LIMIT_GENERATIONS_PER_HOUR": "1000000", "USER_DAILY_SPEND_CAP": "100000000",
    })


def _output_png() -> bytes:
    from devtools.bench.scenarios.derivatives import encoded, photo_like

    return encoded(photo_like(256), "PNG")


def _one_generation(client, user, png: bytes, sql_seconds: list, queries: list) -> dict:
    """Submit → claim → finish → list page for one generation; SQL, queries and CPU per step."""
    from apps.generations import services
    from apps.providers.types import JobState, ProviderOutput, ProviderStatus

    steps = {}

    def step(name, fn):
        sql_seconds.clear()
        queries.clear()
        cpu_started, started = time.process_time(), time.perf_counter()
        result = fn()
        steps[name] = {"sql": sum(sql_seconds), "queries": len(queries), "cpu": time.process_time() - cpu_started,
                       "wall": time.perf_counter() - started}
        return result

    generation = step("submit", lambda: services.generation_create(
        user=user, model_slug="offline-sketch", prompt="a lighthouse at dusk", aspect_ratio="1:1"))
    step("claim", lambda: services._generation_claim(generation.id))
    status = ProviderStatus(state=JobState.SUCCEEDED, outputs=(ProviderOutput(content=png),), predict_seconds=1.0)
    step("finish", lambda: services.generation_finish(generation_id=generation.id, status=status))
    response = step("list page", lambda: client.get("/images/"))
    assert response.status_code == 200 and str(generation.id).encode() in response.content
    return steps


def _blocks_touched() -> int:
    """Table and index pages PostgreSQL has read (from its buffers or the disk) in this database so
    far: unlike times, the count does not change with how busy the machine is."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")  # this session's counters, now
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT blks_hit + blks_read FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def _measure_size(user, client, png: bytes, count: int) -> dict:
    from django.db import connection

    sql_seconds, queries = [], []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds.append(time.perf_counter() - started)
            queries.append(sql)

    with connection.execute_wrapper(timer):
        _one_generation(client, user, png, sql_seconds, queries)  # warm-up
        blocks_before = _blocks_touched()
        samples = [_one_generation(client, user, png, sql_seconds, queries) for _ in range(count)]
    blocks = (_blocks_touched() - blocks_before) / count

    def per_generation(key):
        return [sum(step[key] for step in sample.values()) for sample in samples]

    return {
        "sql": statistics.median(per_generation("sql")), "cpu": statistics.median(per_generation("cpu")),
        "wall": statistics.median(per_generation("wall")), "queries": statistics.median(per_generation("queries")),
        "blocks": blocks,
        "steps": {name: round(statistics.median(s[name]["sql"] for s in samples) * 1000, 2) for name in samples[0]},
    }


def measure(quick: bool) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from apps.accounts.services import user_create
    from apps.credits.models import LedgerEntry
    from apps.credits.services import credits_adjust
    from apps.generations.models import Generation

    from .my_images import prepare_database, seed_generations

    small, large = (5_000, 50_000) if quick else (100_000, 1_000_000)
    count = 10 if quick else 60
    model, user = prepare_database()
    others = [user_create(email=f"bench-other-{i}@example.com").pk for i in range(ACCOUNTS - 1)]
    staff = get_user_model().objects.create(email="bench-staff@example.com", is_staff=True)
    credits_adjust(user=user, amount=10_000_000, reason="bench", actor=staff)
    owners = [user.pk, *others]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    png = _output_png()

    results, seeded = {}, 0
    for size in (small, large):
        seconds = seed_generations(owners=owners, catalog_model_id=model.pk, count=size - seeded, first=seeded)
        seeded = size
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        results[size] = _measure_size(user, client, png, count) | {"seed_seconds": seconds}
        results[size]["rows"] = Generation.objects.count()
        results[size]["ledger"] = LedgerEntry.objects.count()

    a, b = results[small], results[large]
    ratio = b["sql"] / a["sql"] if a["sql"] else None
    pages_ratio = b["blocks"] / a["blocks"] if a["blocks"] else None
    rows = []
    for size, r in results.items():
        rows.append(row(
            f"scale: per generation at {size:,} generations", target="",
            median_ms=round(r["sql"] * 1000, 2), throughput=round(r["queries"], 1), throughput_unit="queries/generation",
            peak_rss_mb=peak_rss_mb(),
            detail=(f"median SQL time per generation (submit+claim+finish+list page) over {count}; "
                    f"{r['blocks']:.0f} PostgreSQL pages read per generation; CPU "
                    f"{r['cpu'] * 1000:.1f} ms, wall {r['wall'] * 1000:.1f} ms; SQL ms by step {r['steps']}; "
                    f"{r['rows']:,} generations, {r['ledger']:,} ledger entries (seeded in {r['seed_seconds']:.0f} s)"),
        ))
    rows.append(row(
        f"scale: cost per generation, {large:,} vs {small:,}", target=f"pages read ratio ≤ {GOAL_RATIO}",
        median_ms=round(b["sql"] * 1000, 2),
        met=pages_ratio is not None and pages_ratio <= GOAL_RATIO and b["queries"] <= a["queries"],
        detail=(f"ratio SQL {ratio:.2f}, queries {b['queries'] / a['queries']:.2f}, pages read "
                f"{b['blocks'] / a['blocks']:.2f}, CPU {b['cpu'] / a['cpu']:.2f} "
                f"(1.00 = flat); {a['sql'] * 1000:.1f} → {b['sql'] * 1000:.1f} ms"),
    ))
    return rows


if __name__ == "__main__":
    child_main(measure)
