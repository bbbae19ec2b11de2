from django.urls import path
from rest_framework.routers import SimpleRouter

from notes import api

router = SimpleRouter()
router.register("notices", api.NoticeViewSet, basename="notice")

api_urlpatterns = [path("notes/", api.NotesView.as_view(), name="notes"), *router.urls]
