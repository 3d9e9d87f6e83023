from django.urls import path

from apps.library import account_views

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.settings_view, name="settings"),
    path("api-keys/", views.api_keys_view, name="api_keys"),
    path("api-keys/<int:api_key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
    # Data export and account deletion (apps/library).
    path("export/", account_views.account_export_view, name="export"),
    path("delete/", account_views.account_delete_view, name="delete"),
]
