from django.urls import path
from rest_framework.routers import SimpleRouter

from releases import api, views

router = SimpleRouter()
router.register("components", api.ComponentViewSet)
router.register("releases", api.ReleaseViewSet)
router.register("items", api.ReleaseItemViewSet)

api_urlpatterns = [
    path("windows/", api.WindowsView.as_view(), name="windows"),
    path("gate/", api.GateView.as_view(), name="gate"),
    *router.urls,
]

# Public: the windows and freezes as a calendar to subscribe to.
urlpatterns = [path("calendar/windows.ics", views.windows_ics, name="windows-ics")]
