from django.apps import AppConfig


class PublicConfig(AppConfig):
    """The public site customers read: pages, Atom feeds and calendars (no models)."""

    name = "public"
    verbose_name = "Public site"
