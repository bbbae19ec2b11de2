"""Who may do what over the API: decided here and in accounts.roles, nowhere else."""

import time

from django.core.cache import cache
from rest_framework import permissions
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from accounts import roles


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
            return roles.is_release_engineer(user) or roles.is_senior_manager(user)
        return roles.is_release_engineer(user)


class PublicThrottle(BaseThrottle):
    """Throttles anonymous readers of public endpoints per address; keyed clients are not.

    A fixed-window counter (``cache.add`` then ``cache.incr``, atomic on Redis) rather than
    DRF's history list, which re-pickles every recent timestamp on every request and races
    between processes. A client may burst up to twice the rate across a window boundary.
    """

    scope = "public"
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    _PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def _rate(self) -> tuple[int, int]:
        count, _, period = self.THROTTLE_RATES[self.scope].partition("/")
        return int(count), self._PERIODS[period.strip()[0].lower()]

    def allow_request(self, request, view):
        if request.user and request.user.is_authenticated:
            return True
        limit, period = self._rate()
        now = time.time()
        window = int(now // period)
        self._retry_after = period - (now - window * period)
        key = f"throttle:{self.scope}:{self.get_ident(request)}:{window}"
        if cache.add(key, 1, timeout=period + 1):
            return True
        try:
            return cache.incr(key) <= limit
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=period + 1)
            return True

    def wait(self):
        return max(1, round(self._retry_after))
