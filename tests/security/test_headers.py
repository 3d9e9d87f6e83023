"""Security headers on every kind of answer, and the production settings that switch on HSTS."""

from tests.test_settings import PRODUCTION, manage

from .conftest import client_for

PAGES = ["/", "/accounts/login/", "/images/", "/workflows/", "/photos/", "/account/api-keys/", "/credits/",
         "/api/v1/docs", "/admin/login/", "/no-such-page/"]


def test_every_page_carries_the_policy_headers(world):
    client = client_for(world.owner)
    for path in PAGES:
        check_headers(client.get(path))


def check_headers(response):
    assert response.status_code < 500
    csp = response["Content-Security-Policy"]
    directives = dict((part.split(" ", 1) + [""])[:2] for part in csp.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_answers_and_files_are_nosniff_and_unframeable(world):
    client = client_for()
    response = client.get("/api/v1/generations", HTTP_AUTHORIZATION=f"Bearer {world.owner_key}")
    assert response["X-Content-Type-Options"] == "nosniff" and response["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script_or_event_handler(world):
    """What the policy would block: inline <script> bodies and on* attributes."""
    import re

    client = client_for(world.owner)
    p = world.params
    for path in ["/", f"/generations/{p['generation_id']}/", f"/photos/{p['upload_id']}/edit/",
                 f"/workflows/{p['workflow_id']}/builder/", f"/workflows/runs/{p['run_id']}/",
                 f"/account/webhooks/{p['endpoint_id']}/", f"/batches/{p['batch_id']}/", "/account/api-keys/",
                 "/photos/", "/images/", "/batches/", "/credits/", "/account/webhooks/"]:
        html = client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "<style" not in html, path


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    code = ("from django.conf import settings; print(settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
            " settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,"
            " 'django.middleware.csp.ContentSecurityPolicyMiddleware' in settings.MIDDLEWARE)")
    result = manage("shell", "--no-imports", "-c", code, env=PRODUCTION, tmp_path=tmp_path)
    assert result.stdout.split() == ["31536000", "True", "True", "True", "True", "True"], result.stderr


def test_hsts_is_sent_over_https(world, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client_for().get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
