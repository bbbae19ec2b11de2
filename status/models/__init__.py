"""The service's health: incidents and their updates (the outage log), the support contacts,
and the probes that measure the API with their samples and rollups."""

from status.models.incidents import Incident, IncidentUpdate, Level, SupportContacts
from status.models.probes import *  # noqa: F403 - the probe models, kept in their own module

__all__ = ["Incident", "IncidentUpdate", "Level", "SupportContacts"]
