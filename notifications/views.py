"""Public pages: subscribe, confirm, unsubscribe (one click, RFC 8058), acknowledge a notice.

A GET never changes anything: mail scanners follow links. The page shows a button that POSTs;
unsubscribe also takes the mail client's one-click POST.
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts import ratelimit
from notifications import acknowledgements, links, sms, subscriptions
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
    phone = forms.CharField(
        required=False,
        max_length=40,
        label="or a mobile number, for SMS",
        help_text="With its country code, e.g. +1 415 555 0100. We text a code to confirm it.",
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not subscriptions.sms_offered():
            del self.fields["phone"]


class CodeForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput, max_length=2000)
    code = forms.CharField(
        label="The code we texted you",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
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
                phone=form.cleaned_data.get("phone") or "",
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
                "code_form": _code_form(subscriber),
                "timeout": settings.WEBHOOK_TIMEOUT_SECONDS,
                "verify_hours": round(subscriptions.VERIFY_WITHIN.total_seconds() / 3600),
            }
            return render(request, "notifications/subscribed.html", context, status=201)
    return _answer(request, "notifications/subscribe.html", {"form": form}, form, retry_after)


def _answer(request, template, context, form, retry_after):
    """The form again: 429 (with Retry-After) when throttled, 400 with errors, else 200."""
    status = 429 if retry_after is not None else 400 if form.errors else 200
    response = render(request, template, context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, round(retry_after)))
    return response


def _code_form(subscriber):
    token = getattr(subscriber, "confirm_token", None)
    return CodeForm(initial={"token": token}) if token else None


@require_http_methods(["POST"])
def confirm_phone(request):
    """The code texted to a number, typed back: the number is confirmed."""
    form = CodeForm(request.POST)
    retry_after = None
    if form.is_valid():
        try:
            subscriber = subscriptions.phone_confirm(
                token=form.cleaned_data["token"], code=form.cleaned_data["code"]
            )
        except links.BadLink as exc:
            form.add_error("code", str(exc))
        except subscriptions.SubscriptionInvalid as exc:
            for error in exc.errors.values():
                form.add_error("code", error)
            if isinstance(exc, subscriptions.SubscriptionThrottled):
                retry_after = exc.retry_after
        else:
            return _confirmed(request, subscriber)
    context = {"code_form": form, "phone": _phone_of(form.data.get("token", ""))}
    return _answer(request, "notifications/confirm_phone.html", context, form, retry_after)


def _phone_of(token: str) -> str:
    try:
        payload = signing.loads(token, salt="nightshift.sms-confirm")
    except signing.BadSignature:
        return ""
    return sms.readable(payload.get("n", ""))


def _confirmed(request, subscriber):
    return render(
        request,
        "notifications/confirmed.html",
        {
            "subscriber": subscriber,
            "unsubscribe": links.unsubscribe_link(subscriber.pk, absolute=False),
        },
    )


# A gateway POSTs replies here (Twilio: From, Body; Vonage: msisdn, text; others JSON with
# from and text). The token in the path is the credential: no CSRF token comes with it.
@csrf_exempt
@require_http_methods(["POST"])
def sms_inbound(request, token: str):
    fields = request.POST
    if request.content_type == "application/json":
        try:
            fields = json.loads(request.body)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            return HttpResponse("Send form fields or a JSON object.", status=400)
    sender = next((str(fields[k]) for k in ("From", "msisdn", "from") if fields.get(k)), "")
    text = next((str(fields[k]) for k in ("Body", "text", "message") if fields.get(k)), "")
    stopped = subscriptions.sms_reply(token=token, sender=sender[:40], text=text[:1600])
    if stopped is None:
        return HttpResponse("No SMS gateway answers at this address.", status=404)
    # An empty TwiML answer: the gateway sends no reply of its own.
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', content_type="text/xml"
    )


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
    return _confirmed(request, subscriber)


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
