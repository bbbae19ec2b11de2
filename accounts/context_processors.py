from accounts.middleware import desk_zone as _desk_zone


def desk(request):
    """The zone the desk shows times in, for its header (admin pages only)."""
    if not request.path.startswith("/admin/"):
        return {}
    return {"desk_zone": _desk_zone(getattr(request, "user", None))}
