from django.urls import path

from . import views

app_name = "gallery"

urlpatterns = [
    path("explore", views.explore_view, name="explore"),
    path("following", views.following_view, name="following"),
    path("i/<str:token>", views.image_view, name="image"),
    path("i/<str:token>/like", views.like_view, name="like"),
    path("i/<str:token>/report", views.report_view, name="report"),
    path("s/<str:token>/<str:filename>", views.share_file_view, name="share_file"),
    path("u/<str:handle>", views.artist_view, name="artist"),
    path("u/<str:handle>/c/<uuid:collection_id>", views.artist_collection_view, name="artist_collection"),
    path("u/<str:handle>/avatar", views.avatar_view, name="avatar"),
    path("u/<str:handle>/follow", views.follow_view, name="follow"),
    path("images/<int:image_id>/share", views.share_set_view, name="share_set"),
]
