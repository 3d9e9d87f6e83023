from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("models", views.model_list_view, name="models"),
    path("models/<slug:slug>", views.model_detail_view, name="model"),
    path("pricing", views.pricing_view, name="pricing"),
    path("llms.txt", views.llms_txt_view, name="llms_txt"),
]
