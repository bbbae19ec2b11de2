from django.urls import path

from status import api, views
from status.feeds import StatusFeed

urlpatterns = [
    path("status/", views.status_page, name="status"),
    path("status/history/", views.history, name="status-history"),
    path("status/incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
    path("support/", views.support, name="support"),
    path("feeds/status.atom", views.public_status(StatusFeed()), name="status-feed"),
]

api_urlpatterns = [
    path("status/", api.StatusView.as_view(), name="status"),
    path("incidents/", api.IncidentList.as_view(), name="incident-list"),
    path("incidents/<int:pk>/", api.IncidentDetail.as_view(), name="incident-detail"),
    path("incidents/<int:pk>/updates/", api.IncidentUpdates.as_view(), name="incident-updates"),
    path("incidents/<int:pk>/resolve/", api.IncidentResolve.as_view(), name="incident-resolve"),
    path("incidents/<int:pk>/rollbacks/", api.IncidentRollback.as_view(), name="incident-rollback"),
]
