"""Revision tokens that move with every write: the one receiver their signals share."""

from __future__ import annotations

from collections.abc import Callable


def on_every_write(moved: Callable[[], None]):
    """A receiver for post_save, post_delete and m2m_changed that calls ``moved()`` after each
    write (in the writer's transaction), but not for loaddata's own rows nor before an m2m
    change."""

    def receiver(sender, **kwargs):
        if kwargs.get("raw"):  # loaddata: the fixture's own rows, no extra writes
            return
        action = kwargs.get("action")
        if action is not None and not action.startswith("post_"):
            return
        moved()

    return receiver
