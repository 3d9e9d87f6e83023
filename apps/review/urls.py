from django.urls import path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.safety_settings_view, name="safety"),
]
