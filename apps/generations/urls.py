from django.urls import path

from . import views

app_name = "generations"

urlpatterns = [
    path("", views.home_view, name="generate"),
    path("generate/options/", views.generate_options_view, name="options"),
    path("generate/quote/", views.generate_quote_view, name="quote"),
    path("generations/new/", views.generation_create_view, name="create"),
    path("generations/<uuid:generation_id>/", views.generation_detail_view, name="detail"),
    path("generations/<uuid:generation_id>/card/", views.generation_card_view, name="card"),
    path("generations/<uuid:generation_id>/cancel/", views.generation_cancel_view, name="cancel"),
    path("generations/<uuid:generation_id>/retry/", views.generation_retry_view, name="retry"),
    path("images/", views.my_images_view, name="my_images"),
    path("studio/<slug:capability_key>/", views.studio_view, name="studio"),
]
