from django.urls import path

from . import views

app_name = "hooks"

urlpatterns = [
    path("", views.endpoints_view, name="endpoints"),
    path("<uuid:endpoint_id>/", views.endpoint_view, name="endpoint"),
    path("<uuid:endpoint_id>/test/", views.endpoint_test_view, name="endpoint_test"),
    path("<uuid:endpoint_id>/toggle/", views.endpoint_toggle_view, name="endpoint_toggle"),
    path("<uuid:endpoint_id>/rotate/", views.endpoint_rotate_view, name="endpoint_rotate"),
    path("<uuid:endpoint_id>/delete/", views.endpoint_delete_view, name="endpoint_delete"),
    path("deliveries/<int:delivery_id>/retry/", views.delivery_retry_view, name="delivery_retry"),
]
