"""Who is behind the request, for deletions the ORM makes without a service (the admin's delete
and its cascades): audit records them with this user as the actor."""

from __future__ import annotations

from audit.services import current_request


class RequestActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The request, not its user: the API authenticates its key inside the view, later.
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
