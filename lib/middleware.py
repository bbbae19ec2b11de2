"""A Content-Security-Policy on every response.

The public site runs no script at all and takes its styles from one sheet of our own, so its
policy allows nothing else: an injected <script>, inline handler or foreign stylesheet does not
run even if sanitising ever missed one. The release desk (Django admin), the browsable API and
the API docs load their scripts from this site only; they keep inline styles, which the admin
and Swagger UI use in attributes.
"""

from __future__ import annotations

SITE = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
APP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
APP_PREFIXES = ("/admin/", "/api/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            app = request.path.startswith(APP_PREFIXES)
            response["Content-Security-Policy"] = APP if app else SITE
        return response
