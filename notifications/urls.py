from django.urls import path

from notifications import views

urlpatterns = [
    path("subscribe/", views.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", views.confirm, name="subscription-confirm"),
    path("subscribe/sms/", views.confirm_phone, name="subscription-confirm-phone"),
    path("sms/inbound/<str:token>/", views.sms_inbound, name="sms-inbound"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("acknowledge/<str:token>/", views.acknowledge, name="acknowledge"),
]
