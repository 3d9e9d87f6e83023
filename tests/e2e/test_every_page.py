"""Every main page in headless Chromium, at desktop and phone sizes, for one signed-in account that
has made a generation and run a workflow: no console error, no uncaught exception, no 4xx/5xx
sub-request on any of them. A screenshot of each lands in var/test-artifacts/screenshots/.
"""

import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.generations.models import Generation
from apps.workflows.models import WorkflowRun
from tests.browser import chromium

from .conftest import PASSWORD, ROOT

pytestmark = [pytest.mark.live, pytest.mark.browser]

SCREENSHOTS = Path(ROOT) / "var" / "test-artifacts" / "screenshots"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
WS_OPEN_PROBE = (
    "document.addEventListener('htmx:wsOpen', () => { window.__wsOpened = (window.__wsOpened || 0) + 1; });"
)
TERMINAL = {"succeeded", "failed", "canceled", "rejected"}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def settle(query, *, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = query()
        if obj.status in TERMINAL:
            return obj
        time.sleep(0.1)
    detail = list(obj.nodes.values_list("node_id", "status")) if hasattr(obj, "nodes") else ""
    pytest.fail(f"{obj!r} still {obj.status} after {timeout} s {detail}")


def prepare(page: Page, base: str) -> dict[str, str]:
    """Sign up, generate one image, run a starter workflow; return the pages to visit."""
    email = f"every-page-{uuid.uuid4().hex[:10]}@example.com"
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_email", email)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"{base}/")
    page.wait_for_function("() => window.__wsOpened > 0", timeout=10_000)
    user = User.objects.get(email=email)

    page.fill("#id_prompt", "a lighthouse in fog")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#recent article.card")).to_have_count(1)
    generation = settle(lambda: Generation.objects.get(owner=user))
    assert generation.status == "succeeded", generation.error_code

    page.goto(f"{base}/workflows/")
    page.locator("a[href$='/starters/four-variations-best/use/']").click()
    page.click("#wf-save")  # a starter is a draft until it is saved
    expect(page.locator("#wf-status")).to_contain_text("Saved as version 1")
    page.click("#wf-run-link")
    page.fill("#input-prompt", "a red kite")
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(f"{base}/workflows/runs/**")
    # Its page is visited whatever the run's end: this test is about pages, not the engine.
    run = settle(lambda: WorkflowRun.objects.get(owner=user), timeout=60)

    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return {
        "generate": "/",
        "my-images": "/images/",
        "generation": f"/generations/{generation.pk}/",
        "batches": "/batches/",
        "photos": "/photos/",
        "workflows": "/workflows/",
        "workflow-run": f"/workflows/runs/{run.pk}/",
        "credits": "/credits/",
        "api-keys": "/account/api-keys/",
        "webhooks": "/account/webhooks/",
        "safety": "/account/safety/",
        "password": "/accounts/password/change/",
        "settings": "/account/",
        "explore": "/explore",
        "following": "/following",
        "artist": f"/u/{user.profile.handle}",
        "models": "/models",
        "model": "/models/offline-sketch",
        "pricing": "/pricing",
        "api-docs": "/api/v1/docs",
        "admin": "/admin/",
        "moderation-queue": "/admin/review/moderationitem/",
        "review-pass-rates": "/admin/review/imagereview/pass-rates/",
    }


@pytest.mark.parametrize("size", SIZES)
def test_every_main_page_loads_cleanly(live, browser, size):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(WS_OPEN_PROBE)
    problems: list[str] = []
    current = {"page": "sign-up"}

    def note(text: str) -> None:
        problems.append(f"{current['page']}: {text}")

    page.on("pageerror", lambda error: note(f"page error: {error}"))
    page.on("console", lambda m: m.type == "error" and note(f"console: {m.text}"))
    page.on("response", lambda r: r.status >= 400 and note(f"{r.status} {r.url}"))
    try:
        pages = prepare(page, live.base_url)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name, path in pages.items():
            current["page"] = name
            response = page.goto(f"{live.base_url}{path}")
            assert response is not None and response.status == 200, (name, response and response.status)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
    finally:
        context.close()
    assert problems == [], problems
