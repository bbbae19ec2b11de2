from rest_framework.routers import SimpleRouter

from notifications import api

router = SimpleRouter()
router.register("channels", api.ChannelViewSet, basename="channel")

api_urlpatterns = [*router.urls]
