from django.urls import path
from rest_framework.routers import SimpleRouter

from approvals import api

router = SimpleRouter()
router.register("approval-requests", api.ApprovalRequestViewSet, basename="approvalrequest")

api_urlpatterns = [
    path(
        "releases/<int:release_id>/approval-requests/",
        api.ReleaseApprovalRequests.as_view(),
        name="release-approval-requests",
    ),
    *router.urls,
]
