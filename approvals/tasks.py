"""django-q2 entry points for approvals."""

from approvals import services


def expire_approvals() -> int:
    """Mark approvals whose slot has ended as expired (the start guard checks the clock anyway)."""
    return services.expire_due()
