from django import template

from notifications import sms

register = template.Library()


@register.filter
def phone(number: str) -> str:
    """+14155550100 as people read it: +1 415-555-0100."""
    return sms.readable(number) if number else ""
