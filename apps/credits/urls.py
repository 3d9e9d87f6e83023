from django.urls import path

from . import views

app_name = "credits"

urlpatterns = [
    path("", views.credits_view, name="credits"),
    path("buy/<int:package_id>/", views.buy_view, name="buy"),
    path("checkout/done/", views.checkout_done_view, name="checkout_done"),
    path("purchases/<uuid:purchase_id>/", views.purchase_view, name="purchase"),
    path("purchases/<uuid:purchase_id>/status/", views.purchase_status_view, name="purchase_status"),
]
