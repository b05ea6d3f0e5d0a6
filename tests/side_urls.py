from __future__ import annotations

from django.urls import path

from tests import side_views as views

app_name = "side"

urlpatterns = [
    path("payment/", views.payment, name="payment"),
    path("apayment/", views.apayment, name="apayment"),
    path("profile/", views.profile, name="profile"),
    path("refill/", views.refill, name="refill"),
    path("whoami/", views.whoami, name="whoami"),
]
