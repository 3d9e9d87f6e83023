from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.settings_view, name="settings"),
    path("api-keys/", views.api_keys_view, name="api_keys"),
    path("api-keys/<int:api_key_id>/revoke/", views.api_key_revoke_view, name="api_key_revoke"),
]
