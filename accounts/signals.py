"""Keeps the credentials revision moving with every write that could change what a key may do.

As releases.signals does for the rules: model signals see every write (admin, API, shell), and
the UPDATE joins the writer's transaction. A login saves the user too (last_login): it moves
the token, which only costs each process one fresh lookup per key.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save

from accounts.models import ApiKey, credentials_changed
from lib.signals import on_every_write

_changed = on_every_write(credentials_changed)


def connect() -> None:
    User = get_user_model()
    for model in (ApiKey, User, Group):  # a group deleted takes its members' role with it
        post_save.connect(_changed, sender=model, dispatch_uid=f"creds-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"creds-del-{model.__name__}")
    m2m_changed.connect(_changed, sender=User.groups.through, dispatch_uid="creds-groups")
