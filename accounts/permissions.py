"""Who may do what over the API: decided here and in accounts.roles, nowhere else."""

from rest_framework import permissions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts import ratelimit, roles


class ReadAnyWriteReleaseEngineer(permissions.BasePermission):
    """Any authenticated user reads; release engineers write."""

    message = "Only release engineers may change this."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return roles.is_release_engineer(request.user)


class ReleaseTeamReadEngineerWrite(permissions.BasePermission):
    """Release engineers and senior managers read (internal items included); engineers write.

    Customers read releases through the public notes (/api/v1/notes/), never these.
    """

    message = "Releases are for the release team; customers read /api/v1/notes/."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return roles.is_release_team(user)
        return roles.is_release_engineer(user)


# The verdict on a request whose anonymous call has been counted (once, whoever asks again).
COUNTED = "_nightshift_public_verdict"


def public_hit(request) -> ratelimit.Verdict:
    """Count one anonymous call of a public endpoint from this client; may it go ahead?"""
    limit, period = ratelimit.parse_rate(PublicThrottle.THROTTLE_RATES[PublicThrottle.scope])
    verdict = ratelimit.hit_leased(
        PublicThrottle.scope, ratelimit.client_address(request), limit=limit, period=period
    )
    setattr(request, COUNTED, verdict)
    return verdict


class PublicThrottle(BaseThrottle):
    """Throttles anonymous readers of public endpoints per client address; keyed clients are
    not. Counted in the store every worker shares (accounts.ratelimit)."""

    scope = "public"
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def allow_request(self, request, view):
        if request.user and request.user.is_authenticated:
            return True
        # Counted already (by the gate's fast path), or counted now.
        verdict = getattr(request, COUNTED, None) or public_hit(request)
        self._retry_after = verdict.retry_after
        return verdict.allowed

    def wait(self):
        return max(1, round(self._retry_after))
