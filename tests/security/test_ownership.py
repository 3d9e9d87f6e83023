"""The ownership matrix: every URL Darkroom serves, filled with one person's objects, asked for by
someone else and by an anonymous visitor with every method. They get 404/403/401 (or a redirect
to log in) and the database is unchanged; the owner, asked the same, gets an answer — so the
filling is right and the refusal is about ownership.

The URL list comes from Django's resolver and the API's OpenAPI schema, so a new URL joins the
matrix by itself; a URL with a parameter the matrix does not know how to fill fails the test.
"""

import re
from urllib.parse import urlsplit

from django.contrib import admin
from django.db import transaction
from django.urls import URLResolver, get_resolver, reverse

from .conftest import GRAPH, client_for, db_changes, db_snapshot, tally

METHODS = ("get", "post", "put", "patch", "delete")
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>|\(\?P<(?P<rname>\w+)>[^)]*\)")

# Parameters naming an object that belongs to someone (filled from the `world` fixture).
OWNED_PARAMS = {
    "generation_id", "upload_id", "endpoint_id", "delivery_id", "batch_id", "api_key_id", "workflow_id",
    "run_id", "purchase_id", "item_id", "collection_id", "image_id",
}
# Parameters that qualify an owned object (a node of a run, an operation on a photo, a version number).
QUALIFIER_PARAMS = {"node_id", "operation", "number", "kind"}

# Routes with a parameter that names something public or is checked another way, and why.
NOT_OWNED = {
    "credits/buy/<int:package_id>/": "credit packages are on sale to everyone",
    "workflows/starters/<slug:key>/use/": "starter workflows are shared templates",
    "files/<str:token>": "signed bearer links: tests/security/test_files.py",
    "webhooks/providers/<slug:provider>/": "provider callbacks, verified by signature (tests/providers)",
    "stripe/webhook/<uuid:uuid>/": "Stripe's signed webhook (tests/credits)",
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": "e-mail confirmation key from the mail",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "password-reset key from the mail",
    "models/<slug:slug>": "the public catalogue",
    "studio/<slug:capability_key>/": "a photo tool by its name; the photo or image it opens is owner-scoped: tests/generations/test_studio.py",
    "i/<str:token>": "a shared image, public by the owner's choice: tests/gallery",
    "i/<str:token>/like": "likes of a shared image: tests/gallery/test_public_pages.py",
    "i/<str:token>/report": "reports of a shared image: tests/gallery/test_public_pages.py",
    "s/<str:token>/<str:filename>":
        "a shared image's file, checked on every request: tests/gallery/test_sharing.py",
    "u/<str:handle>": "artist pages are public",
    "u/<str:handle>/avatar": "an artist's avatar, public with the page",
    "u/<str:handle>/follow": "following an artist: tests/gallery/test_public_pages.py",
    "u/<str:handle>/c/<uuid:collection_id>":
        "a collection its owner listed publicly, showing only public images: tests/gallery/test_collections.py",
}
# Pages anyone may open (everything else without a parameter must send an anonymous visitor to log in).
PUBLIC_PAGES = {"", "healthz", "readyz", "explore", "models", "pricing", "llms.txt"}
# Mounted APIs: matched one-to-one against their OpenAPI schemas below.
API_PREFIXES = ("api/v1/", "v1/")
# Sign-up, log-in and password flows of django-allauth: public by nature.
AUTH_PREFIX = "accounts/"
ADMIN_PREFIX = "admin/"


def walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


ROUTES = sorted({route for route, _ in walk(get_resolver().url_patterns)})


def params_of(route: str) -> list[str]:
    return [m.group("name") or m.group("rname") for m in PARAM.finditer(route)]


def fill(route: str, values: dict) -> str:
    return "/" + PARAM.sub(lambda m: str(values[m.group("name") or m.group("rname")]), route)


def classify(route: str) -> str:
    if route.startswith(ADMIN_PREFIX):
        return "admin"
    if route.startswith(API_PREFIXES):
        return "api"
    if route in NOT_OWNED:
        return "not-owned"
    if route.startswith(AUTH_PREFIX):
        return "auth"
    names = params_of(route)
    if not names:
        return "public" if route in PUBLIC_PAGES else "login-required"
    unknown = [name for name in names if name not in OWNED_PARAMS | QUALIFIER_PARAMS]
    if unknown or not set(names) & OWNED_PARAMS:
        return "unknown"
    return "owned"


def test_every_url_is_known_to_the_matrix():
    """A new URL with a parameter the matrix can't fill (or a stale entry) fails here."""
    unknown = [route for route in ROUTES if classify(route) == "unknown"]
    assert not unknown, f"add these to OWNED_PARAMS/NOT_OWNED in {__file__}: {unknown}"
    stale = sorted(set(NOT_OWNED) - set(ROUTES)) + sorted(PUBLIC_PAGES - set(ROUTES))
    assert not stale, f"no longer served: {stale}"


def _login_redirect(response) -> bool:
    return response.status_code == 302 and urlsplit(response["Location"]).path.startswith(("/accounts/login/",))


def _owner_answers(client, route, path):
    """What the owner gets for each method, undone afterwards (a transaction rolled back)."""
    answers = {}
    for method in METHODS:
        try:
            with transaction.atomic():
                answers[method] = getattr(client, method)(path).status_code
                raise _Undo
        except _Undo:
            pass
    return answers


class _Undo(Exception):
    pass


def test_other_people_and_anonymous_visitors_get_nothing_of_the_owners_pages(world):
    a, b, anon = client_for(world.owner), client_for(world.stranger), client_for()
    owned = [route for route in ROUTES if classify(route) == "owned"]
    problems, tried = [], 0
    for route in owned:
        path = fill(route, world.params)
        before = db_snapshot()
        for method in METHODS:
            theirs, nobodys = getattr(b, method)(path), getattr(anon, method)(path)
            tried += 2
            if theirs.status_code not in (403, 404, 405):
                problems.append(f"B {method.upper()} {path}: {theirs.status_code}")
            if not (nobodys.status_code in (401, 403, 404, 405) or _login_redirect(nobodys)):
                problems.append(f"anonymous {method.upper()} {path}: {nobodys.status_code}")
            leaked = [s for s in world.secrets if s in theirs.content.decode(errors="replace")]
            if leaked:
                problems.append(f"B {method.upper()} {path} shows {leaked}")
        if changed := db_changes(before):
            problems.append(f"{path} changed {changed}")
        mine = _owner_answers(a, route, path)
        if not any(status < 500 and status not in (404, 405) for status in mine.values()):
            problems.append(f"the owner gets nothing from {path}: {mine} (the matrix fills it wrongly)")
        if any(status >= 500 for status in mine.values()):
            problems.append(f"the owner gets a server error from {path}: {mine}")
    assert not problems, "\n".join(problems)
    assert len(owned) >= 30 and tried >= 300, (len(owned), tried)
    tally("matrix: URL patterns (resolver)", len(ROUTES))
    tally("matrix: owned page URLs", len(owned))
    tally("matrix: owned page requests (B + anonymous)", tried)


def test_anonymous_visitors_are_sent_to_log_in_from_every_private_page(world):
    anon = client_for()
    private = [route for route in ROUTES if classify(route) == "login-required"]
    before = db_snapshot()
    problems = []
    for route in private:
        for method in ("get", "post"):
            response = getattr(anon, method)("/" + route)
            if not (_login_redirect(response) or response.status_code in (401, 403, 405)):
                problems.append(f"{method.upper()} /{route}: {response.status_code}")
    assert not problems, problems
    assert db_changes(before) == []
    assert len(private) >= 10, private
    tally("matrix: private pages (anonymous)", len(private))


def test_public_pages_show_nothing_private(world):
    anon = client_for()
    for route in sorted(PUBLIC_PAGES):
        response = anon.get("/" + route)
        assert response.status_code == 200, route
        assert not [s for s in world.secrets if s in response.content.decode()], route


# ---------------------------------------------------------------- the APIs, from their schemas

def api_operations(client):
    from apps.openai_compat.api import openai_api
    from config.api import api

    operations = []
    for mounted in (api, openai_api):
        schema = mounted.get_openapi_schema()
        for path, methods in schema["paths"].items():
            for method, operation in methods.items():
                operations.append((method, path, operation))
    return operations


# Operations anyone may call: the public catalogue.
PUBLIC_OPERATIONS = {
    ("get", "/api/v1/models"), ("get", "/api/v1/models/{slug}"), ("get", "/api/v1/workflow-node-types"),
    ("get", "/api/v1/workflow-starters"), ("get", "/api/v1/gallery"),
}
NOT_OWNED_API_PARAMS = {"slug"}
# Bodies valid in shape, so a refusal is about the object, not the body.
BODIES = {
    "/api/v1/uploads/{upload_id}/operations": {"operation": "crop", "params": {"aspect": "1:1"}},
    "/api/v1/workflows/{workflow_id}/versions": {"graph": GRAPH},
    "/api/v1/workflows/{workflow_id}/runs": {"inputs": {}},
    "/api/v1/webhooks/{endpoint_id}": {"description": "changed"},
    "/api/v1/collections/{collection_id}": {"name": "changed"},
    "/api/v1/collections/{collection_id}/items": {"items": [{"kind": "{kind}", "id": "{item_id}"}]},
    "/api/v1/collections/{collection_id}/items/remove": {"items": [{"kind": "{kind}", "id": "{item_id}"}]},
    "/api/v1/collections/{collection_id}/order": {"items": [{"kind": "{kind}", "id": "{item_id}"}]},
    "/api/v1/images/{image_id}/share": {"visibility": "unlisted"},
}


def test_every_api_route_is_in_its_schema():
    """The resolver's API routes and the schemas' operations are the same set: nothing unlisted."""
    served = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", "/" + route) for route in ROUTES if route.startswith(API_PREFIXES)}
    documented = {path for _, path, _ in api_operations(None)}
    extra = {"/api/v1/openapi.json", "/api/v1/docs", "/api/v1/", "/v1/openapi.json", "/v1/docs", "/v1/"}
    assert served - extra == documented


def test_api_keys_reach_only_their_own_objects_and_anonymous_calls_are_401(world, client):
    owner = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_key}"}
    stranger = {"HTTP_AUTHORIZATION": f"Bearer {world.stranger_key}"}
    problems, with_ids, operations = [], 0, 0
    for headers in (owner, stranger):  # a key's first use records it (once): not a change under test
        client.get("/api/v1/balance", **headers)
    for method, template, operation in api_operations(client):
        if template == "/api/v1/events":
            continue  # a minute-long stream: refused to anonymous callers in tests/realtime/test_events.py
        names = re.findall(r"\{(\w+)\}", template)
        unknown = [n for n in names if n not in OWNED_PARAMS | QUALIFIER_PARAMS | NOT_OWNED_API_PARAMS]
        assert not unknown, f"the matrix can't fill {unknown} in {template}"
        path = re.sub(r"\{(\w+)\}", lambda m: str(world.params.get(m.group(1), "offline-sketch")), template)
        body = {key: [{k: str(world.params[v[1:-1]]) if v in ("{kind}", "{item_id}") else v
                       for k, v in item.items()} for item in value] if key == "items" else value
                for key, value in BODIES.get(template, {}).items()}
        kwargs = {"data": body, "content_type": "application/json"} if method in ("post", "patch", "put") else {}
        before = db_snapshot()
        operations += 1
        anonymous = getattr(client, method)(path, **kwargs)
        if (method, template) not in PUBLIC_OPERATIONS and anonymous.status_code != 401:
            problems.append(f"anonymous {method.upper()} {template}: {anonymous.status_code}")
        if set(names) & OWNED_PARAMS:
            with_ids += 1
            theirs = getattr(client, method)(path, **kwargs, **stranger)
            if theirs.status_code != 404:
                problems.append(f"B {method.upper()} {template}: {theirs.status_code} {theirs.content[:120]}")
            if changed := db_changes(before):
                problems.append(f"{method.upper()} {template} changed {changed}")
            try:
                with transaction.atomic():
                    mine = getattr(client, method)(path, **kwargs, **owner)
                    raise _Undo
            except _Undo:
                pass
            if mine.status_code in (404, 405) or mine.status_code >= 500:
                problems.append(f"the owner gets {mine.status_code} from {method.upper()} {template}")
    assert not problems, "\n".join(problems)
    assert with_ids >= 20, with_ids
    tally("matrix: API operations (anonymous)", operations)
    tally("matrix: API operations on owned objects (B's key)", with_ids)


# ---------------------------------------------------------------- staff only

def admin_paths(values) -> list[str]:
    paths = []
    for route, pattern in walk(get_resolver().url_patterns):
        if not route.startswith(ADMIN_PREFIX) or not pattern.name:
            continue
        names = params_of(route)
        if "app_label" in names:
            labels = {model._meta.app_label for model in admin.site._registry}
            paths += [reverse(f"admin:{pattern.name}", kwargs={"app_label": label}) for label in sorted(labels)]
            continue
        kwargs = {name: values.get(name, "1") for name in names}
        paths.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return paths


def test_the_admin_is_refused_to_everyone_but_staff(world):
    from django.contrib.auth import get_user_model

    public = {reverse("admin:login"), reverse("admin:logout"), reverse("admin:jsi18n")}
    paths = [p for p in admin_paths({"object_id": world.owner.pk, "content_type_id": 1}) if p not in public]
    assert len(paths) >= 50, len(paths)
    clients = (client_for(world.stranger), client_for())  # (logging in writes last_login)
    before = db_snapshot()
    for client in clients:
        for path in paths:
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                if path.startswith("/admin/r/"):  # "view on site": a redirect to the object's own page
                    assert response.status_code in (302, 404), (method, path, response.status_code)
                    continue
                assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (
                    method, path, response.status_code)
    assert db_changes(before) == []
    tally("matrix: admin URLs (non-staff + anonymous)", len(paths))
    staff = get_user_model().objects.get(pk=world.stranger.pk)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    assert client_for(staff).get(reverse("admin:index")).status_code == 200


def test_the_snapshot_sees_any_change(world):
    """The control for `db_changes`: one field of one row is enough."""
    from apps.accounts.models import ApiKey

    before = db_snapshot()
    assert db_changes(before) == []
    ApiKey.objects.filter(user=world.owner).update(name="renamed")
    assert db_changes(before) == [ApiKey._meta.db_table]
