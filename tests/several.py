"""Seeding for the several-servers test (tests/test_several_servers.py), run inside its
scratch environment:  python -m tests.several seed SINK_URL SUBSCRIBERS

Prints JSON: the API keys, the ids of the two releases and of the approval request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys


def seed(sink: str, subscribers: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from accounts import roles
    from accounts.services import apikey_create
    from approvals import services as approvals
    from notifications.models import Subscriber
    from releases import services as releases
    from releases.models import Component, WindowPolicy

    now = timezone.now()
    User = get_user_model()
    keys = {}
    for name, role in [
        ("erin", roles.RELEASE_ENGINEERS),
        ("morgan", roles.SENIOR_MANAGEMENT),
        ("mira", roles.SENIOR_MANAGEMENT),
    ]:
        user = User.objects.create_user(name, email=f"{name}@example.com")
        user.groups.add(Group.objects.get(name=role))
        keys[name] = apikey_create(user=user, name="several servers")[1]
    erin = User.objects.get(username="erin")
    # "api" may ship at any hour (its own always-open policy); "billing" keeps the default
    # windows, so a release now is exceptional and needs senior management.
    api = Component.objects.create(slug="api", name="API", kind=Component.Kind.API)
    billing = Component.objects.create(slug="billing", name="Billing", kind=Component.Kind.API)
    policy = WindowPolicy.objects.create(
        name="Any hour (API)",
        rrule="FREQ=DAILY",
        start_time=dt.time(0),
        duration_minutes=24 * 60,
        zone="UTC",
        effective_from=now.date() - dt.timedelta(days=2),
        applies_to_all=False,
    )
    policy.components.set([api])
    regular = releases.release_create(
        by=erin, component=api, version="2.0.0", title="Faster search",
        scheduled_start=now + dt.timedelta(seconds=1), expected_duration_minutes=30,
        items=[{"title": "Search is faster", "type": "changed"}], at=now,
    )  # fmt: skip
    releases.release_announce(release=regular, by=erin, at=now)
    urgent = releases.release_create(
        by=erin, component=billing, version="9.9.1", title="Leak fix", kind="exceptional",
        scheduled_start=now + dt.timedelta(minutes=1), expected_duration_minutes=30,
        items=[{"title": "Connections are closed", "type": "fixed"}], at=now,
    )  # fmt: skip
    request = approvals.request_create(
        release=urgent, by=erin, urgency="critical", justification="The leak takes it down.",
        slot_start=now, slot_end=now + dt.timedelta(hours=3), at=now,
    )  # fmt: skip
    Subscriber.objects.bulk_create(
        Subscriber(
            channel="webhook",
            url=f"{sink}/ok/{i}",
            confirmed_at=now,
            on_items=False,
            on_notices=False,
            on_rolled_back=False,
            on_status=False,
        )
        for i in range(subscribers)
    )
    return {"keys": keys, "regular": regular.pk, "urgent": urgent.pk, "request": request.pk}


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if sys.argv[1] == "seed":
        print(json.dumps(seed(sys.argv[2], int(sys.argv[3]))))
