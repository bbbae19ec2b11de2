import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey, digest_key
from accounts.services import apikey_create, apikey_revoke

pytestmark = pytest.mark.django_db
POLICIES = "/api/v1/policies/"


def bearer(plaintext: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def test_a_key_is_stored_only_as_its_digest_and_acts_as_its_user(engineer):
    key, plaintext = apikey_create(user=engineer, name="deploy pipeline")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert plaintext not in {str(v) for v in stored.values()}
    assert stored["digest"] == digest_key(plaintext)
    assert plaintext.startswith(key.prefix + "_")
    response = bearer(plaintext).post(POLICIES, {"name": "x"})
    assert response.status_code == 400  # authenticated as an engineer: reaches validation
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_key_acts_with_its_users_permissions_only(customer):
    _, plaintext = apikey_create(user=customer, name="reader")
    client = bearer(plaintext)
    assert client.get(POLICIES).status_code == 200
    assert client.post(POLICIES, {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer ns_nope_nope", "Unknown API key."),
        ("Bearer", "Use 'Authorization: Bearer <API key>'."),
        ("Bearer a b", "Use 'Authorization: Bearer <API key>'."),
    ],
)
def test_bad_keys_are_401_with_a_reason(db, header, detail):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(POLICIES)
    assert response.status_code == 401
    assert response.json()["detail"] == detail


def test_a_revoked_key_stops_working_at_once(engineer):
    key, plaintext = apikey_create(user=engineer, name="old")
    assert bearer(plaintext).get(POLICIES).status_code == 200
    apikey_revoke(key=key)
    response = bearer(plaintext).get(POLICIES)
    assert (response.status_code, response.json()["detail"]) == (
        401,
        "This API key has been revoked.",
    )


def test_a_key_of_an_inactive_user_is_refused(engineer):
    _, plaintext = apikey_create(user=engineer, name="leaver")
    engineer.is_active = False
    engineer.save()
    assert (
        bearer(plaintext).get(POLICIES).json()["detail"] == "The owner of this API key is inactive."
    )


def test_apikey_command_creates_lists_and_revokes(engineer):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "apikey", "create", engineer.username, "--name", "CI deploy", stdout=out, stderr=err
    )
    plaintext = out.getvalue().strip()
    assert "shown only now" in err.getvalue()
    assert bearer(plaintext).get(POLICIES).status_code == 200
    key = ApiKey.objects.get(name="CI deploy")
    listing = io.StringIO()
    call_command("apikey", "list", stdout=listing)
    assert f"{key.prefix}\t{engineer.username}\tCI deploy\tactive" in listing.getvalue()
    call_command("apikey", "revoke", key.prefix, stdout=io.StringIO())
    assert bearer(plaintext).get(POLICIES).status_code == 401


def test_apikey_command_refuses_unknown_users_and_empty_names(engineer):
    with pytest.raises(CommandError, match="No user called 'ghost'"):
        call_command("apikey", "create", "ghost", "--name", "x")
    with pytest.raises(CommandError, match="needs a name"):
        call_command("apikey", "create", engineer.username, "--name", "  ")
    assert not ApiKey.objects.exists()


def test_admin_shows_a_new_key_once_and_keeps_it_nowhere(client, django_user_model, engineer):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin_user)
    response = client.post(
        "/admin/accounts/apikey/add/", {"user": engineer.pk, "name": "from admin"}
    )
    key = ApiKey.objects.get(name="from admin")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    [plaintext] = re.findall(r'<code id="api-key"[^>]*>([^<]+)</code>', response.content.decode())
    assert digest_key(plaintext) == key.digest
    assert bearer(plaintext).get(POLICIES).status_code == 200
    # Not in a cookie (the messages cookie is signed, not encrypted), nor on any later page.
    assert all(plaintext not in cookie.value for cookie in response.cookies.values())
    later = client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    assert plaintext not in later and key.prefix in later


def test_revoking_in_the_admin_asks_first(client, django_user_model, engineer):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin_user)
    key, _ = apikey_create(user=engineer, name="deploy")
    chosen = {"action": "revoke", "_selected_action": [key.pk]}
    asked = client.post("/admin/accounts/apikey/", chosen)
    assert "cannot be undone" in asked.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # nothing happened yet
    client.post("/admin/accounts/apikey/", {**chosen, "confirmed": "yes"})
    key.refresh_from_db()
    assert key.revoked_at is not None
