from rest_framework.routers import SimpleRouter

from rules import api

router = SimpleRouter()
router.register("policies", api.WindowPolicyViewSet)
router.register("freezes", api.FreezeViewSet)
router.register("rule-changes", api.RuleChangeViewSet, basename="rulechange")

api_urlpatterns = router.urls
