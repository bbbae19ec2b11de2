from django import template

from releases.windows import lasting

register = template.Library()


@register.filter
def duration(value) -> str:
    """A timedelta as people read it: "2 h 5 min"."""
    return lasting(value) if value is not None else ""
