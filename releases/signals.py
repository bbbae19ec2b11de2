"""Keeps the rules revision moving with every write to components, policies and freezes.

Side effects stay out of save() (docs/architecture.md); this is the exception, and why: the
revision is not domain state but the token that tells every process its calendar is stale.
It must move with *every* write — admin, API, a shell, a script — or the gate would keep
allowing releases into a freeze someone just declared. Model signals are the one hook that
sees them all; the UPDATE joins the writer's transaction. QuerySet.update() sends no signal:
call releases.services.rules_changed() after one.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save

from lib.signals import on_every_write
from releases.models import Component, Freeze, WindowPolicy
from releases.services import rules_changed

_changed = on_every_write(rules_changed)


def connect() -> None:
    for model in (Component, WindowPolicy, Freeze):
        post_save.connect(_changed, sender=model, dispatch_uid=f"rules-save-{model.__name__}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"rules-del-{model.__name__}")
    for model in (WindowPolicy, Freeze):
        m2m_changed.connect(
            _changed, sender=model.components.through, dispatch_uid=f"rules-m2m-{model.__name__}"
        )
