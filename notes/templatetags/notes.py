from django import template

from notes.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(source):
    """Markdown → sanitised HTML (notes.rendering); the only way notes reach a page."""
    return render_markdown(source)
