"""Public pages: subscribe, confirm, unsubscribe (one click, RFC 8058), acknowledge a notice.

A GET never changes anything: mail scanners follow links. The page shows a button that POSTs;
unsubscribe also takes the mail client's one-click POST.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts import ratelimit
from notifications import acknowledgements, links, subscriptions
from notifications.models import Topic
from releases.models import Component


class SubscribeForm(forms.Form):
    email = forms.EmailField(required=False, label="E-mail address")
    url = forms.URLField(
        required=False,
        label="or an HTTPS webhook URL",
        max_length=500,
        assume_scheme="https",
    )
    topics = forms.MultipleChoiceField(
        choices=Topic.choices,
        initial=Topic.values,
        widget=forms.CheckboxSelectMultiple,
        label="Tell me about",
    )
    components = forms.ModelMultipleChoiceField(
        queryset=Component.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Only these components (none ticked: all)",
    )


@require_http_methods(["GET", "HEAD", "POST"])
def subscribe(request):
    form = SubscribeForm(request.POST or None)
    retry_after = None
    if request.method == "POST" and form.is_valid():
        try:
            subscriber = subscriptions.subscribe(
                email=form.cleaned_data["email"] or "",
                url=form.cleaned_data["url"] or "",
                topics=form.cleaned_data["topics"],
                components=form.cleaned_data["components"],
                client=ratelimit.client_address(request),
            )
        except subscriptions.SubscriptionInvalid as exc:
            for field, error in exc.errors.items():
                form.add_error(field if field in form.fields else None, error)
            if isinstance(exc, subscriptions.SubscriptionThrottled):
                retry_after = exc.retry_after
        else:
            # The same page whether the address was known or not (a webhook's unsubscribe link
            # goes to its endpoint, in the verification request): nothing to learn from it.
            context = {
                "subscriber": subscriber,
                "timeout": settings.WEBHOOK_TIMEOUT_SECONDS,
                "verify_hours": round(subscriptions.VERIFY_WITHIN.total_seconds() / 3600),
            }
            return render(request, "notifications/subscribed.html", context, status=201)
    status = 429 if retry_after is not None else 400 if form.errors else 200
    response = render(request, "notifications/subscribe.html", {"form": form}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


def _bad_link(request, exc: links.BadLink):
    return render(request, "notifications/bad_link.html", {"error": str(exc)}, status=400)


@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token: str):
    if request.method != "POST":
        try:
            links.read_confirm(token)
        except links.BadLink as exc:
            return _bad_link(request, exc)
        return render(request, "notifications/confirm.html", {})
    try:
        subscriber = subscriptions.subscriber_confirm(token=token)
    except links.BadLink as exc:
        return _bad_link(request, exc)
    return render(
        request,
        "notifications/confirmed.html",
        {
            "subscriber": subscriber,
            "unsubscribe": links.unsubscribe_link(subscriber.pk, absolute=False),
        },
    )


# Mail clients POST ``List-Unsubscribe=One-Click`` here without a CSRF token (RFC 8058); the
# signed link is the credential, so CSRF protection adds nothing.
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    try:
        subscriber = links.read_unsubscribe(token)
    except links.BadLink as exc:
        return _bad_link(request, exc)
    if request.method == "POST":
        subscriber = subscriptions.subscriber_unsubscribe(subscriber=subscriber)
        return render(request, "notifications/unsubscribed.html", {"subscriber": subscriber})
    return render(request, "notifications/unsubscribe.html", {"subscriber": subscriber})


@require_http_methods(["GET", "HEAD", "POST"])
def acknowledge(request, token: str):
    try:
        contact, notice, revision = links.read_acknowledgement(token)
        context = {"contact": contact, "notice": notice, "revision": revision}
        if request.method == "POST":
            ack, created = acknowledgements.acknowledge(
                contact=contact, notice=notice, revision=revision
            )
            context |= {"ack": ack, "created": created}
        elif refusal := acknowledgements.acknowledgement_refusal(notice, revision):
            raise links.BadLink(refusal)
    except links.BadLink as exc:
        return _bad_link(request, exc)
    return render(request, "notifications/acknowledge.html", context)
