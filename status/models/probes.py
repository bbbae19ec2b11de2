"""Probes of the watched service, their samples and rollups."""
