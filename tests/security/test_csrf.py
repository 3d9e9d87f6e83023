"""CSRF: every form and htmx post of the site refuses a request without the token (403) and takes
it with one; the APIs don't use the session cookie at all, so a forged cross-site call has no
credentials to ride on."""

from django.db import transaction

from .conftest import client_for, tally
from .test_ownership import NOT_OWNED, ROUTES, _Undo, classify, fill

# Signed by their senders instead (HMAC webhooks), so they take no CSRF token.
SIGNED_CALLBACKS = {"webhooks/providers/<slug:provider>/", "stripe/webhook/<uuid:uuid>/"}
# The visitor's own log-in/sign-up flows are in the list too (allauth forms use Django's CSRF).
AUTH_FORMS = ["accounts/login/", "accounts/signup/", "accounts/logout/", "accounts/password/reset/",
              "accounts/password/change/"]


def post_routes(world) -> list[str]:
    values = {**world.params, "key": "product-shot", "token": "x", "handle": "nobody", "slug": "offline-sketch",
              "filename": "0.webp", "capability_key": "upscale"}
    paths = []
    for route in ROUTES:
        kind = classify(route)
        if kind in ("owned", "login-required", "public") or (
                kind == "not-owned" and route not in SIGNED_CALLBACKS and not route.startswith(("files/", "accounts/"))):
            paths.append(fill(route, values))
    return paths + ["/" + route for route in AUTH_FORMS]


def _post(client, path, **headers):
    try:
        with transaction.atomic():
            response = client.post(path, {"name": "x"}, **headers)
            raise _Undo(response)
    except _Undo as undo:
        return undo.args[0]


def test_every_post_without_the_token_is_403_and_with_it_is_not(world):
    client = client_for(world.owner, enforce_csrf_checks=True)
    client.get("/")  # the page sets the CSRF cookie the browser sends back
    token = client.cookies["csrftoken"].value
    paths = post_routes(world)
    refused, accepted = [], []
    for path in paths:
        bare = _post(client, path)
        htmx = _post(client, path, HTTP_HX_REQUEST="true")
        with_token = _post(client, path, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
        if bare.status_code == 403 and htmx.status_code == 403:
            refused.append(path)
        assert with_token.status_code != 403 or b"CSRF" not in with_token.content, path
        if with_token.status_code != 403:
            accepted.append(path)
    missing = sorted(set(paths) - set(refused))
    # GET-only pages answer 405 before any check; every page that takes a POST must be in `refused`.
    for path in missing:
        assert _post(client, path, HTTP_X_CSRFTOKEN=token).status_code == 405, f"{path} takes a POST without CSRF"
    assert len(refused) >= 40 and len(accepted) >= 40, (len(refused), len(accepted))
    tally("CSRF: posts refused without the token", len(refused))
    assert set(NOT_OWNED) & SIGNED_CALLBACKS == SIGNED_CALLBACKS


def test_a_wrong_token_or_a_foreign_origin_is_refused(world):
    client = client_for(world.owner, enforce_csrf_checks=True)
    client.get("/")
    token = client.cookies["csrftoken"].value
    path = "/account/api-keys/"
    assert _post(client, path, HTTP_X_CSRFTOKEN="x" * 64).status_code == 403
    assert _post(client, path, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="https://evil.example",
                 **{"wsgi.url_scheme": "https"}).status_code == 403
    assert _post(client, path, HTTP_X_CSRFTOKEN=token).status_code in (200, 302)


def test_the_apis_ignore_the_session_cookie(world):
    """Signed in to the site, a browser still has no API access: only an API key authenticates."""
    client = client_for(world.owner)
    for method, path in (("get", "/api/v1/generations"), ("post", "/api/v1/api-keys"),
                         ("post", "/v1/images/generations"), ("get", "/api/v1/balance")):
        response = getattr(client, method)(path, content_type="application/json", data={} if method == "post" else None)
        assert response.status_code == 401, (method, path, response.status_code)
