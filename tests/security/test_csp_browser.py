"""The Content-Security-Policy holds with the real pages: headless Chromium opens each main page
(htmx, its websocket extension, the Drawflow builder, the mask brush, the API docs, the admin) from
a live daphne and reports every `securitypolicyviolation` event. There must be none, and the
features the policy could break must still work (the live socket opens, htmx swaps, Drawflow draws).
"""


import pytest
from django.test import Client
from playwright.sync_api import expect

from apps.accounts.models import User
from apps.hooks import services as hook_services
from apps.workflows import services as workflow_services
from tests.accounts.factories import UserFactory
from tests.browser import chromium
from tests.generations.factories import GenerationFactory
from tests.media.factories import UploadFactory

from .conftest import GRAPH

pytestmark = [pytest.mark.live, pytest.mark.browser]

COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}`));
window.__wsOpened = 0;
document.addEventListener('htmx:wsOpen', () => { window.__wsOpened += 1; });
"""


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def scene(live):
    """Made before the browser starts (Playwright runs an event loop in this thread)."""
    user = UserFactory()
    return {
        "user": user, "user_cookie": session_cookie(user),
        "staff_cookie": session_cookie(User.objects.create_superuser(email="ops@example.com", password="a-Strong-pass-123")),
        "generation": GenerationFactory(owner=user), "photo": UploadFactory(owner=user, width=96, height=72),
        "workflow": workflow_services.workflow_create(user=user, name="Shot", graph=GRAPH),
        "endpoint": hook_services.webhook_endpoint_create(user=user, url="https://93.184.215.14/hook",
                                                          events=["batch.finished"]),
    }


def test_no_page_breaks_the_content_security_policy(live, scene, browser):
    user, generation, photo = scene["user"], scene["generation"], scene["photo"]
    workflow, endpoint = scene["workflow"], scene["endpoint"]
    pages = ["/", f"/generations/{generation.id}/", "/images/", "/photos/", f"/photos/{photo.id}/edit/",
             "/workflows/", f"/workflows/{workflow.pk}/", f"/workflows/{workflow.pk}/builder/", "/batches/",
             "/account/api-keys/", "/account/webhooks/", f"/account/webhooks/{endpoint.id}/", "/credits/",
             "/api/v1/docs", "/account/", "/explore", "/following", f"/u/{user.profile.handle}", "/models",
             "/models/offline-sketch", "/pricing"]
    violations, errors, visited = [], [], 0

    def open_as(cookie, paths, check=None):
        nonlocal visited
        context = browser.new_context(base_url=live.base_url)
        if cookie:
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": live.base_url}])
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.add_init_script(COLLECT)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(f"{page.url}: {m.text}"))
        for path in paths:
            response = page.goto(path)
            assert response.status < 400, (path, response.status)
            page.wait_for_load_state("load")
            page.wait_for_timeout(250)  # let deferred scripts and htmx's first requests run (pages may poll)
            if check:
                check(page, path)
            violations.extend(f"{path}: {v}" for v in page.evaluate("window.__csp"))
            visited += 1
        return page

    def live_features(page, path):
        if path == "/":  # the live socket opens (connect-src) and the quote comes back over htmx
            page.wait_for_function("() => window.__wsOpened > 0")
            expect(page.locator("#quote")).to_contain_text("credit")
        if path.endswith("/builder/"):  # Drawflow draws the saved graph and adds a node
            expect(page.locator(".drawflow-node")).to_have_count(2)
            page.click("button[data-add-node]:text-is('Upscale')")
            expect(page.locator(".drawflow-node")).to_have_count(3)
        if path == "/api/v1/docs":
            expect(page.locator(".swagger-ui .info")).to_be_visible()

    open_as(None, ["/", "/accounts/login/", "/accounts/signup/"])
    page = open_as(scene["user_cookie"], pages, live_features)
    page.goto("/")
    page.fill("#id_prompt", "a lighthouse under the CSP")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#recent article.card").first).to_have_attribute("data-status", "succeeded", timeout=30_000)
    violations.extend(page.evaluate("window.__csp"))
    open_as(scene["staff_cookie"], ["/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{user.pk}/change/"])
    assert violations == [] and errors == [], violations + errors
    assert visited == len(pages) + 6
    # The control: an injected inline script is blocked, and the collector sees it.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                  " document.body.append(s); }")
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__csp")[0].startswith("script-src-elem blocked inline")
