from django.urls import path

from . import views

app_name = "media"

urlpatterns = [
    path("photos/", views.photos_view, name="photos"),
    path("photos/upload/", views.photo_upload_view, name="upload"),
    path("photos/<uuid:upload_id>/edit/", views.photo_edit_view, name="edit"),
    path("photos/<uuid:upload_id>/masks/", views.mask_create_view, name="mask_create"),
    path(
        "photos/<uuid:upload_id>/operations/<slug:operation>/", views.operation_apply_view, name="operation"
    ),
]
