from django.urls import path
from rest_framework.routers import SimpleRouter

from releases import api

router = SimpleRouter()
router.register("components", api.ComponentViewSet)
router.register("releases", api.ReleaseViewSet)
router.register("items", api.ReleaseItemViewSet)

api_urlpatterns = [
    path("windows/", api.WindowsView.as_view(), name="windows"),
    path("gate/", api.GateView.as_view(), name="gate"),
    *router.urls,
]
