from django.urls import path

from . import views

app_name = "workflows"

urlpatterns = [
    path("", views.workflow_list_view, name="list"),
    path("new/", views.workflow_new_view, name="new"),
    path("starters/<slug:key>/use/", views.starter_use_view, name="starter_use"),
    path("<uuid:workflow_id>/", views.workflow_detail_view, name="detail"),
    path("<uuid:workflow_id>/builder/", views.builder_view, name="builder"),
    path("<uuid:workflow_id>/versions/", views.version_save_view, name="version_save"),
    path("<uuid:workflow_id>/export.json", views.workflow_export_view, name="export"),
    path("<uuid:workflow_id>/run/", views.run_start_view, name="run_start"),
    path("<uuid:workflow_id>/delete/", views.workflow_delete_view, name="delete"),
    path("runs/<uuid:run_id>/", views.run_view, name="run"),
    path("runs/<uuid:run_id>/header/", views.run_header_view, name="run_header"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("runs/<uuid:run_id>/resume/", views.run_resume_view, name="run_resume"),
    path("runs/<uuid:run_id>/nodes/<str:node_id>/", views.node_fragment_view, name="node_fragment"),
    path("runs/<uuid:run_id>/nodes/<str:node_id>/retry/", views.node_retry_view, name="node_retry"),
]
