from django.urls import path

from . import views

app_name = "batches"

urlpatterns = [
    path("", views.batches_view, name="batches"),
    path("options/", views.batch_options_view, name="options"),
    path("quote/", views.batch_quote_view, name="quote"),
    path("<uuid:batch_id>/", views.batch_detail_view, name="detail"),
    path("<uuid:batch_id>/progress/", views.batch_progress_view, name="progress"),
    path("<uuid:batch_id>/cancel/", views.batch_cancel_view, name="cancel"),
    path("<uuid:batch_id>/download/", views.batch_download_view, name="download"),
]
