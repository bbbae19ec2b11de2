"""Guessing passwords at the admin login is cut short: a user name is locked from an address."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def throttled(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def _login(client, password):
    return client.post("/admin/login/?next=/admin/", {"username": "erin", "password": password})


def test_repeated_wrong_passwords_lock_the_name_out_from_that_address(throttled, engineer):
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    codes = [_login(guesser, f"guess-{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]  # the third failure locks out
    locked = _login(guesser, "pw-erin")  # even the right password, now
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "Try again in 15 minutes" in locked.content.decode()  # not "PT15M"
    assert "_auth_user_id" not in guesser.session
    elsewhere = Client(REMOTE_ADDR="198.51.100.4")
    assert _login(elsewhere, "pw-erin").status_code == 302  # the owner, from their own desk


def test_a_forwarded_for_header_does_not_buy_new_attempts(throttled, engineer):
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(3):
        guesser.post(
            "/admin/login/",
            {"username": "erin", "password": f"guess-{n}"},
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    again = guesser.post(
        "/admin/login/", {"username": "erin", "password": "pw-erin"}, HTTP_X_FORWARDED_FOR="1.2.3.4"
    )
    assert again.status_code == 429
