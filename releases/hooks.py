"""Where other apps plug into releases (releases never imports them).

Registered from each app's ``AppConfig.ready()``:

- ``register_hold_source(source)`` — status: an open major-outage incident holds the regular
  releases of its components (the gate and the start guard answer ``incident_open``).
  ``source()`` returns engine ``Hold``s; it is called when the window calendar is rebuilt,
  so whoever changes what it returns calls ``releases.services.rules_changed()`` in the same
  transaction, as every rule edit does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from releases.windows import Hold

HoldSource = Callable[[], Iterable[Hold]]
_hold_sources: list[HoldSource] = []


def register_hold_source(source: HoldSource) -> None:
    if source not in _hold_sources:
        _hold_sources.append(source)


def holds() -> list[Hold]:
    return [hold for source in _hold_sources for hold in source()]
