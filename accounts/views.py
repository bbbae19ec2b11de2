"""The desk's own pages for a person: their preferences."""

from __future__ import annotations

from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.middleware import desk_zone
from accounts.models import Preferences


class PreferencesForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        required=False,
        label="Your time zone",
        help_text="Times on the desk are shown, and read when you type them, in this zone.",
    )

    class Meta:
        model = Preferences
        fields = ["time_zone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        team = settings.TEAM_TIME_ZONE
        self.fields["time_zone"].choices = [
            ("", f"The team's zone ({team})"),
            *((z, z) for z in sorted(available_timezones()) if "/" in z or z == "UTC"),
        ]


def preferences(request):
    """Choose the zone the desk works in for you."""
    prefs, _ = Preferences.objects.get_or_create(user=request.user)
    form = PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        request.user.preferences = form.save()  # not the choice the desk read before it
        messages.success(
            request, f"The desk now shows and takes times in {desk_zone(request.user)}."
        )
        return HttpResponseRedirect(reverse("admin:index"))
    return TemplateResponse(
        request,
        "admin/preferences.html",
        {**admin.site.each_context(request), "title": "Your preferences", "form": form},
    )
