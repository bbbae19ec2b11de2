"""How an instant is shown on a page: local zone and UTC, in a <time datetime> element."""

from django import template

from lib.instants import html, local_and_utc

register = template.Library()
register.simple_tag(html, name="instant")
instant = html

__all__ = ["instant", "local_and_utc"]
