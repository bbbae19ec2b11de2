"""The API's front door: what there is, where, and what it is for."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

RESOURCES = {
    "gate": ("gate/", "May this component (or release) ship now? No key needed."),
    "windows": ("windows/", "A component's open release windows in a range."),
    "components": ("components/", "What is released on its own."),
    "policies": ("policies/", "Window policies; changing them is a rule change."),
    "freezes": ("freezes/", "Freezes; declaring one is free, lifting one is a rule change."),
    "rule-changes": ("rule-changes/", "Proposed rule changes; senior management decides."),
    "releases": ("releases/", "Releases and their lifecycle (the release team's)."),
    "items": ("items/", "Items of releases."),
    "approval-requests": ("approval-requests/", "Authorizations of exceptional releases."),
    "notes": ("notes/", "Public release notes, aggregated by window date."),
    "notices": ("notices/", "Advance notices of releases that need customers to act."),
    "incidents": ("incidents/", "Incidents and their updates; public ones for anyone."),
    "status": ("status/", "Each component's service status now."),
    "channels": ("channels/", "Accounts news is posted to, and the SMS gateway (staff)."),
}


class ApiRoot(APIView):
    """Every resource of the API, with its address; the OpenAPI document has the details."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "ApiRoot",
            {
                "resources": serializers.DictField(child=serializers.DictField()),
                "schema": serializers.URLField(),
                "docs": serializers.URLField(),
            },
        )
    )
    def get(self, request):
        base = request.build_absolute_uri("/api/v1/")
        return Response(
            {
                "resources": {
                    name: {"url": base + path, "about": about}
                    for name, (path, about) in RESOURCES.items()
                },
                "schema": request.build_absolute_uri("/api/schema/"),
                "docs": request.build_absolute_uri("/api/docs/"),
            }
        )
