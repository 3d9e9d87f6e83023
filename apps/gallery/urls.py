from django.urls import path, re_path

from . import views

app_name = "gallery"

urlpatterns = [
    path("explore", views.explore_view, name="explore"),
    path("following", views.following_view, name="following"),
    path("i/<str:token>", views.image_view, name="image"),
    path("i/<str:token>/like", views.like_view, name="like"),
    path("i/<str:token>/report", views.report_view, name="report"),
    re_path(r"^s/(?P<token>[A-Za-z0-9_-]{8,40})/(?P<digest>[0-9a-f]{24})\.(?P<extension>[a-z0-9]{2,5})$",
            views.share_file_view, name="share_file"),
    path("u/<str:handle>", views.artist_view, name="artist"),
    path("u/<str:handle>/avatar", views.avatar_view, name="avatar"),
    path("u/<str:handle>/follow", views.follow_view, name="follow"),
    path("images/<int:image_id>/share", views.share_set_view, name="share_set"),
]
