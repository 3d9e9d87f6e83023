"""My images for a user with 1,000,000 generations: the first page and the page 500,000 deep,
as the HTML page (/images/) and the API list (/api/v1/generations). Goal: server time p95 ≤ 15 ms
and no COUNT(*) in any query.

Runs in its own process against a fresh PostgreSQL database (`ctx.database_url("my_images")`),
seeded in bulk with INSERT … SELECT generate_series (generations, each with its image row, the
ledger's reserve and capture for each). Requests go through Django's test Client in-process, so
"server time" is the whole request inside Django (middleware, view, queries, template or JSON),
without a network hop. The deep page is reached the way a user gets there: by the keyset cursor
(`?before=` / `cursor=`) of the 500,000th item, found with one direct query. The SQL of each
request is captured (CaptureQueriesContext): the row fails if any query contains COUNT(, and the
list query's EXPLAIN must show an index scan, no sort. The BlurHash placeholder cache is cleared
before every request, as if every card on the page were new to this process.
Quick mode: 100,000 generations, the page 50,000 deep.
"""

import statistics
import time
import uuid

from devtools.bench.scenarios import latency_summary, row
from devtools.bench.scenarios._inproc import child_main, peak_rss_mb, run_child

NAME = "my_images"
ORDER = 40
GOAL_P95_MS = 15.0
BLURHASHES = ["LEHV6nWB2yk8pyo0adR*.7kCMdnj", "LGF5]+Yk^6#M@-5c,1J5@[or[Q6.", "L6PZfSi_.AyE_3t7t7R**0o#DgR4",
              "LKO2?U%2Tw=w]~RBVZRi};RPxuwH", "L9AB*A%LPqys8_H=yDR5nMMeVXR5", "LFE.@D9F01_2%L%MIVD*9Goe-;WB"]


def run(ctx) -> list[dict]:
    return run_child(ctx, "devtools.bench.scenarios.my_images", env={"DATABASE_URL": ctx.database_url("my_images")})


# ---------------------------------------------------------------- bulk seeding (shared with scale)


def _fill_missing(table: str, given: dict) -> dict:
    """`given` plus a neutral value for every other NOT NULL column without a database default
    (so the seed keeps working when a column is added)."""
    from django.db import connection

    neutral = {"character varying": "''", "text": "''", "jsonb": "'{}'::jsonb", "boolean": "false",
               "integer": "0", "smallint": "0", "bigint": "0", "double precision": "0", "numeric": "0",
               "timestamp with time zone": "now()", "date": "current_date", "uuid": "gen_random_uuid()"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'", [table])
        missing = {name: neutral.get(kind, "''") for name, kind in cursor.fetchall() if name not in given}
    return {**given, **missing}


def _insert_select(table: str, columns: dict, source: str, params: list) -> None:
    from django.db import connection

    columns = _fill_missing(table, columns)
    names = ", ".join(f'"{name}"' for name in columns)
    with connection.cursor() as cursor:
        cursor.execute(f'INSERT INTO "{table}" ({names}) SELECT {", ".join(columns.values())} {source}', params)


def seed_generations(*, owners: list[int], catalog_model_id: int, count: int, first: int = 0,
                     ledger: bool = True) -> float:
    """`count` succeeded generations, numbered first … first+count-1 (number n was made n seconds
    before the seed's epoch, so higher numbers are older), dealt to `owners` round-robin, each with
    one image row and, with `ledger`, its reserve and capture entries. Returns seconds taken."""
    from django.db import connection

    from apps.credits.models import LedgerEntry
    from apps.generations.models import Generation, GenerationImage

    started = time.monotonic()
    owners_array = "ARRAY[" + ",".join(str(int(o)) for o in owners) + "]::bigint[]"
    epoch = "'2026-01-01T00:00:00Z'::timestamptz"
    made = f"{epoch} - make_interval(secs => n)"
    _insert_select(Generation._meta.db_table, {
        "id": "gen_random_uuid()", "owner_id": f"({owners_array})[1 + n %% {len(owners)}]",
        "catalog_model_id": str(int(catalog_model_id)), "prompt": "'a lighthouse at dusk, study ' || n",
        "negative_prompt": "''",
        "params": """'{"aspect_ratio": "1:1", "tier": "standard", "width": 1024, "height": 1024, "num_images": 1}'::jsonb""",
        "seed": "n::text", "quoted_credits": "4", "status": "'succeeded'", "progress": "1", "revision": "6",
        "provider": "'offline'", "route_index": "0", "provider_job_id": "'job-' || n", "notes": "'[]'::jsonb",
        "cache_key": "''", "error_code": "''", "error_message": "''", "predict_seconds": "3.5",
        "timings": """'{"queued": 0}'::jsonb""", "created_at": made, "updated_at": made,
        "dispatched_at": made, "started_at": made, "finishing_at": made, "finished_at": made,
    }, "FROM generate_series(%s::bigint, %s::bigint) AS n", [first, first + count - 1])
    recent = f"created_at <= {epoch} - make_interval(secs => %s) AND created_at >= {epoch} - make_interval(secs => %s)"
    span = [first, first + count - 1]
    blurhashes = "ARRAY[" + ",".join("'" + b.replace("%", "%%") + "'" for b in BLURHASHES) + "]"
    path = "'generations/' || g.owner_id || '/' || g.id || '/0'"
    _insert_select(GenerationImage._meta.db_table, {
        "generation_id": "g.id", "index": "0", "file": path + " || '.png'", "preview": path + " || '.preview.webp'",
        "thumbnail": path + " || '.thumb.webp'",
        "blurhash": _distinct_blurhash(blurhashes),
        "width": "1024", "height": "1024", "size_bytes": "1200000", "sha256": "md5(g.id::text) || md5(g.prompt)",
        "content_type": "'image/png'", "created_at": "g.created_at", "updated_at": "g.created_at",
    }, f"FROM {Generation._meta.db_table} g WHERE {recent}", span)
    if ledger:
        for kind, amount in (("reserve", "-4"), ("capture", "0")):
            _insert_select(LedgerEntry._meta.db_table, {
                "user_id": "g.owner_id", "kind": f"'{kind}'", "amount": amount,
                "idempotency_key": f"'{kind}:' || g.id", "generation_id": "g.id", "memo": "''",
                "created_at": "g.created_at",
            }, f"FROM {Generation._meta.db_table} g WHERE {recent}", span)
    with connection.cursor() as cursor:
        for model in (Generation, GenerationImage, LedgerEntry):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return time.monotonic() - started


def _distinct_blurhash(bases: str) -> str:
    """SQL for a valid BlurHash per image row: one of `bases` with its average colour (the 4 DC
    characters) derived from the row's id, so a page of cards decodes a page of placeholders."""
    alphabet = "'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'"
    base = f"({bases})[1 + abs(hashtext(g.id::text)) %% {len(BLURHASHES)}]"
    # The first DC character stays a digit, keeping the colour within 24 bits.
    dc = [f"substr({alphabet}, 1 + abs(hashtext(g.id::text || '{salt}')) %% {size}, 1)"
          for salt, size in (("a", 10), ("b", 62), ("c", 62), ("d", 62))]
    return f"left({base}, 2) || {' || '.join(dc)} || right({base}, 22)"


def prepare_database():
    """Migrated database with the catalogue loaded; returns (catalog model, a new user)."""
    from django.core.management import call_command

    from apps.accounts.services import user_create
    from apps.catalog.models import CatalogModel

    call_command("migrate", verbosity=0, interactive=False)
    call_command("catalog_load", verbosity=0)
    model = CatalogModel.objects.get(slug="offline-sketch")
    user = user_create(email=f"bench-{uuid.uuid4().hex[:10]}@example.com")
    return model, user


# ---------------------------------------------------------------- measuring


def _explain(sql: str) -> tuple[bool, str]:
    """(uses an index and reads about one page of rows, a short description) from EXPLAIN ANALYZE."""
    import re

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT TEXT) " + sql)
        plan = "\n".join(line for (line,) in cursor.fetchall())
    scans = re.findall(r"(Index Scan|Index Only Scan|Seq Scan|Bitmap Heap Scan)(?: Backward)?(?: using (\w+))? on (\w+)", plan)
    removed = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan))
    generation_scans = [s for s in scans if s[2] == "generations_generation"]
    # A bounded Incremental Sort (ties on created_at) is fine; a full Sort or a Seq Scan is not.
    full_sort = bool(re.search(r"^\s*(->\s*)?Sort\s+\(cost", plan, re.MULTILINE))
    ok = bool(generation_scans) and all(s[0] == "Index Scan" for s in generation_scans) and not full_sort and removed < 1000
    text = ", ".join(f"{kind} using {index}" for kind, index, _ in generation_scans) or plan.splitlines()[0]
    return ok, f"{text}, {removed} rows filtered out{', full sort' if full_sort else ''}"


def _list_query(queries: list[dict]) -> str:
    """The page's main query: the one ordering the user's generations newest first (by name, or by
    position when the query selects only some columns)."""
    import re

    newest_first = re.compile(r'ORDER BY ("generations_generation"\."created_at"|\d+) DESC')
    return next(q["sql"] for q in queries
                if 'FROM "generations_generation"' in q["sql"] and newest_first.search(q["sql"]))


def _timed_requests(client, url: str, runs: int, **headers) -> dict:
    """Wall and CPU time of each request, the SQL time inside them, one request's queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.imaging.derivatives import blurhash_data_uri

    sql_seconds = []

    def sql_timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds.append(time.perf_counter() - started)

    wall, cpu, sql = [], [], []
    for _ in range(3):  # warm-up: connection, templates, URL resolver
        client.get(url, **headers)
    with connection.execute_wrapper(sql_timer):
        for _ in range(runs):
            blurhash_data_uri.cache_clear()
            sql_seconds.clear()
            cpu_started, started = time.process_time(), time.perf_counter()
            response = client.get(url, **headers)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            sql.append(sum(sql_seconds))
            assert response.status_code == 200, (url, response.status_code)
    blurhash_data_uri.cache_clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    return {"wall": wall, "cpu": cpu, "sql": sql, "queries": list(captured.captured_queries), "response": response}


def measure(quick: bool) -> list[dict]:
    from django.db import connection
    from django.test import Client

    from apps.accounts.services import api_key_create
    from apps.core.pagination import encode_cursor
    from apps.generations.models import Generation

    total, depth = (100_000, 50_000) if quick else (1_000_000, 500_000)
    runs = 40 if quick else 200
    model, user = prepare_database()
    seconds = seed_generations(owners=[user.pk], catalog_model_id=model.pk, count=total, ledger=False)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT created_at, id FROM "{Generation._meta.db_table}" WHERE owner_id = %s '
                       "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1", [user.pk, depth - 1])
        deep_created, deep_id = cursor.fetchone()
    deep_cursor = encode_cursor(deep_created, deep_id)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    api_headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key_create(user=user, name='bench').secret}"}

    rows = []
    cases = [
        ("My images page, first page", "/images/", {}),
        (f"My images page, {depth:,} deep", f"/images/?before={deep_cursor}", {}),
        ("API list, first page", "/api/v1/generations?limit=20", api_headers),
        (f"API list, {depth:,} deep", f"/api/v1/generations?limit=20&cursor={deep_cursor}", api_headers),
    ]
    for label, url, headers in cases:
        timed = _timed_requests(client, url, runs, **headers)
        queries, response = timed["queries"], timed["response"]
        counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
        indexed, plan = _explain(_list_query(queries))
        summary = latency_summary(timed["wall"])
        items = len(response.json()["items"]) if "/api/" in url else response.content.count(b'class="card ')
        rows.append(row(
            f"my_images: {label}", target=f"p95 ≤ {GOAL_P95_MS:.0f} ms, no COUNT(*)", **summary,
            throughput=round(1 / statistics.median(timed["wall"]), 1), throughput_unit="requests/s per core",
            peak_rss_mb=peak_rss_mb(),
            met=summary["p95_ms"] <= GOAL_P95_MS and not counts and indexed and items > 0,
            detail=(f"{total:,} generations (seeded in {seconds:.0f} s); {runs} requests of {items} items; "
                    f"CPU {statistics.median(timed['cpu']) * 1000:.1f} ms, SQL {statistics.median(timed['sql']) * 1000:.1f} ms "
                    f"per request (medians); {len(queries)} queries, {len(counts)} with COUNT(; list query: "
                    f"{plan}{'' if indexed else ' (NOT bounded)'}"),
        ))
    return rows


if __name__ == "__main__":
    child_main(measure)
