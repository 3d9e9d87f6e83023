from django.contrib import admin
from django.urls import include, path

from apps.core.metrics import metrics_view
from apps.core.views import file_view
from apps.openai_compat.api import openai_api
from apps.ops.views import healthz_view, readyz_view
from apps.providers.views import provider_webhook_view

from .api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("account/webhooks/", include("apps.hooks.urls")),
    path("account/safety/", include("apps.review.urls")),
    path("account/", include("apps.accounts.urls")),
    path("credits/", include("apps.credits.urls")),
    path("batches/", include("apps.batches.urls")),
    path("library/", include("apps.library.urls")),
    # dj-stripe's signed webhook: /stripe/webhook/<uuid>/ (manage.py credits_stripe_webhook prints it)
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("api/v1/", api.urls),
    # OpenAI-compatible Images API (apps/openai_compat): base_url <SITE_URL>/v1 with a Darkroom key.
    path("v1/", openai_api.urls),
    path("files/<str:token>", file_view, name="file"),
    path("webhooks/providers/<slug:provider>/", provider_webhook_view, name="provider_webhook"),
    path("healthz", healthz_view, name="healthz"),
    path("readyz", readyz_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("workflows/", include("apps.workflows.urls")),
    path("", include("apps.gallery.urls")),
    path("", include("apps.catalog.urls")),
    path("", include("apps.media.urls")),
    path("", include("apps.generations.urls")),
]
