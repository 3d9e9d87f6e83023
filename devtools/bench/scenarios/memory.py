"""Peak resident memory of the web and worker processes while the stack scenarios ran: the
largest single process of each role (Celery's pool children included), from /proc VmRSS sampled
every 250 ms over the stack's whole life."""

from . import row

NAME = "memory"
ORDER = 95
TARGET = "web and worker each ≤ 350 MB RSS"
LIMIT_MB = 350


def run(ctx) -> list[dict]:
    if not ctx.stack_started or ctx.rss is None:
        return [row("memory (peak RSS)", target=TARGET, met=None,
                    detail="no stack scenario ran, nothing was sampled")]
    ctx.rss.sample()
    overall = ctx.rss.overall
    web, worker = round(overall.get("web", 0), 1), round(overall.get("worker", 0), 1)
    stack = ctx.stack()
    return [row(
        "memory (peak RSS)", target=TARGET, peak_rss_mb=max(web, worker),
        met=web <= LIMIT_MB and worker <= LIMIT_MB,
        detail=(f"web {web} MB, worker {worker} MB (largest single process; {stack.web_processes} web, "
                f"{stack.worker_processes} worker × {stack.worker_concurrency} children)"),
    )]
