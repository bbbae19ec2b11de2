"""django-q2 entry points for approvals."""

from approvals import notifications, services


def expire_approvals() -> int:
    """Mark approvals whose slot has ended as expired (the start guard checks the clock anyway)."""
    return services.expire_due()


def request_filed(request_id: int) -> int:
    """E-mail the senior managers who may decide on a new request."""
    return notifications.request_filed(request_id)


def request_invalidated(request_id: int) -> int:
    """E-mail the requester whose request a change voided."""
    return notifications.request_invalidated(request_id)
