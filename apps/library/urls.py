from django.urls import path

from . import views

app_name = "library"

urlpatterns = [
    path("", views.library_view, name="library"),
    path("delete/", views.library_delete_view, name="delete"),
    path("restore/", views.library_restore_view, name="restore"),
    path("collections/", views.collections_view, name="collections"),
    path("collections/new/", views.collection_create_view, name="collection_create"),
    path("collections/add/", views.collection_add_view, name="collection_add"),
    path("collections/<uuid:collection_id>/", views.collection_view, name="collection"),
    path("collections/<uuid:collection_id>/rename/", views.collection_rename_view, name="collection_rename"),
    path("collections/<uuid:collection_id>/publish/", views.collection_publish_view, name="collection_publish"),
    path("collections/<uuid:collection_id>/delete/", views.collection_delete_view, name="collection_delete"),
    path("collections/<uuid:collection_id>/remove/", views.collection_remove_view, name="collection_remove"),
    path("collections/<uuid:collection_id>/move/", views.collection_move_view, name="collection_move"),
    path("<slug:kind>/<str:item_id>/", views.library_item_view, name="item"),
    path("<slug:kind>/<str:item_id>/download/", views.library_item_download_view, name="download"),
    path("<slug:kind>/<str:item_id>/star/", views.library_star_view, name="star"),
    path("<slug:kind>/<str:item_id>/vary/", views.image_vary_view, name="vary"),
    path("<slug:kind>/<str:item_id>/to-photo/", views.image_to_photo_view, name="to_photo"),
]
