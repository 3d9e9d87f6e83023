"""Percentiles from stored rows: PostgreSQL's `percentile_cont` where it runs, the same linear
interpolation in Python elsewhere (SQLite, the embedded mode), over a bounded sample."""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Aggregate, FloatField

QUANTILES = (0.5, 0.95, 0.99)
# The most rows the Python fallback reads for one table (newest first).
FALLBACK_ROW_LIMIT = 20000


class PercentileCont(Aggregate):
    """`percentile_cont(q) WITHIN GROUP (ORDER BY expr)`: PostgreSQL's interpolated percentile."""

    function = "percentile_cont"
    name = "PercentileCont"
    output_field = FloatField()
    template = "%(function)s(%(quantile)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, quantile: float, **extra):
        super().__init__(expression, quantile=float(quantile), **extra)


def in_database() -> bool:
    return connection.vendor == "postgresql"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as percentile_cont computes it."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def grouped_percentiles(queryset, *, group: str, fields: Iterable[str], quantiles=QUANTILES) -> dict[str, dict]:
    """{group value: {field: {q: value}}} over `queryset` (already filtered to the rows that count)."""
    fields = list(fields)
    if in_database():
        aggregates = {f"{field}__{i}": PercentileCont(field, q) for field in fields for i, q in enumerate(quantiles)}
        rows = queryset.order_by().values(group).annotate(**aggregates)
        return {
            row[group]: {field: {q: row[f"{field}__{i}"] for i, q in enumerate(quantiles)} for field in fields}
            for row in rows
        }
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in queryset.values(group, *fields)[:FALLBACK_ROW_LIMIT]:
        for field in fields:
            if row[field] is not None:
                values[row[group]][field].append(row[field])
    return {key: {field: {q: percentile(by_field.get(field, []), q) for q in quantiles} for field in fields}
            for key, by_field in values.items()}


def bucket_index(at, *, last, width, buckets: int) -> int | None:
    """Which of `buckets` clock-aligned buckets (the last one starting at `last`, each `width`
    long) a database-truncated time falls in; None before the first."""
    index = buckets - 1 - int((last - at) / width)
    return index if 0 <= index < buckets else None
