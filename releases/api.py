"""REST API for components, window policies, freezes, the windows listing and the gate."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from accounts.permissions import PublicThrottle
from releases import selectors
from releases.models import Component, Freeze, WindowPolicy
from releases.serializers import (
    ComponentSerializer,
    DecisionSerializer,
    FreezeSerializer,
    GateQuerySerializer,
    WindowPolicySerializer,
    WindowSerializer,
    WindowsQuerySerializer,
    decision_payload,
    parse_instant,
)


class AtomicWritesMixin:
    """A write and its many-to-many rows (and the rules revision) land together or not at all."""

    def perform_create(self, serializer):
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer):
        with transaction.atomic():
            serializer.save()


class ComponentViewSet(AtomicWritesMixin, viewsets.ModelViewSet):
    queryset = Component.objects.all()
    serializer_class = ComponentSerializer
    lookup_field = "slug"
    filterset_fields = ["kind"]
    ordering_fields = ["slug", "name"]


class WindowPolicyViewSet(AtomicWritesMixin, viewsets.ModelViewSet):
    queryset = WindowPolicy.objects.with_scope()
    serializer_class = WindowPolicySerializer
    ordering_fields = ["name", "effective_from"]


class FreezeViewSet(AtomicWritesMixin, viewsets.ModelViewSet):
    queryset = Freeze.objects.with_scope()
    serializer_class = FreezeSerializer
    ordering_fields = ["starts_at", "effective_from"]


def _query(serializer_class, request):
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


class WindowsView(APIView):
    """The open release windows of a component in a range (at most 366 days), in UTC."""

    # Pipelines ask without a key; the view only answers GET, so anything else is a 405.
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]

    @extend_schema(
        parameters=[WindowsQuerySerializer],
        responses=inline_serializer("WindowList", {"results": WindowSerializer(many=True)}),
    )
    def get(self, request):
        query = _query(WindowsQuerySerializer, request)
        calendar = selectors.window_calendar()
        found = calendar.windows(query["start"], query["end"], query["component"].slug)
        return Response({"results": WindowSerializer(found, many=True).data})


class GateView(APIView):
    """May this component ship now (or at `at`)? Allow or deny, with the reason and a trace."""

    # Pipelines ask without a key; the view only answers GET, so anything else is a 405.
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]
    renderer_classes = [JSONRenderer]  # pipelines read JSON; no browsable page on this path
    authentication_classes = [ApiKeyAuthentication]  # pipelines carry a key or nothing

    @extend_schema(parameters=[GateQuerySerializer], responses=DecisionSerializer)
    def get(self, request):
        # Every pipeline asks before every deploy, so this path avoids serializer machinery:
        # the same parsing and the same messages as GateQuerySerializer, one query in all.
        errors = {}
        slug = request.query_params.get("component", "")
        if not slug:
            errors["component"] = ["This field is required."]
        at = timezone.now()
        if raw_at := request.query_params.get("at"):
            try:
                at = parse_instant(raw_at)
            except ValueError as exc:
                errors["at"] = [str(exc)]
        calendar, exists = selectors.window_calendar_for(slug) if slug else (None, False)
        if slug and not exists:
            errors["component"] = [f"Unknown component '{slug}'."]
        if errors:
            raise ValidationError(errors)
        return Response(decision_payload(calendar.decide(at, slug)))
