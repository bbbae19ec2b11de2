from django.contrib import admin
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.decorators.http import require_safe
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from accounts.views import preferences
from api.problems import not_found
from api.views import ApiRoot
from approvals.urls import api_urlpatterns as approvals_api
from audit.urls import api_urlpatterns as audit_api
from notes.api_urls import api_urlpatterns as notes_api
from notifications.api_urls import api_urlpatterns as notifications_api
from releases.urls import api_urlpatterns as releases_api
from rules.urls import api_urlpatterns as rules_api
from status.urls import api_urlpatterns as status_api

admin.site.site_header = admin.site.site_title = "Nightshift release desk"
admin.site.index_title = "The release desk"
admin.site.site_url = "/"  # "View site": the public pages

handler400 = "api.problems.bad_request"
handler404 = "api.problems.not_found"
handler500 = "api.problems.server_error"


@require_safe
def healthz(request):
    """Liveness: the process answers. Touches no database (also the benchmarks' baseline)."""
    return JsonResponse({"status": "ok"})


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on every page (the API's docs too): the site's icon."""
    return HttpResponsePermanentRedirect(static("nightshift/favicon.svg"))


urlpatterns = [
    path("admin/preferences/", admin.site.admin_view(preferences), name="preferences"),
    path("admin/", admin.site.urls),
    path("api/v1/", ApiRoot.as_view(), name="api-root"),
    path(
        "api/v1/",
        include(
            (
                releases_api
                + rules_api
                + approvals_api
                + notes_api
                + audit_api
                + status_api
                + notifications_api,
                "api",
            ),
            namespace="api",
        ),
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    # Unknown API paths answer problem+json even with DEBUG on (handler404 is skipped then).
    re_path(r"^api/", not_found),
    path("", include("notifications.urls")),
    path("", include("status.urls")),
    path("", include("public.urls")),
]
