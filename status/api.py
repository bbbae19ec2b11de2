"""Status and incidents over the API: anyone reads public ones; release engineers and
Operations open, update, resolve, and roll back in answer to an incident."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import PublicThrottle
from api.pagination import Pagination
from releases.api import domain_errors as release_errors
from releases.models import Release
from releases.windows import iso_utc
from status import selectors, services
from status.models import Incident
from status.serializers import (
    ComponentStatusSerializer,
    IncidentRollbackSerializer,
    IncidentSerializer,
    IncidentUpdateSerializer,
    IncidentWriteSerializer,
    ResolveSerializer,
    UpdateWriteSerializer,
)
from status.views import public_status_api


class ReadAnyRunIncidents(permissions.BasePermission):
    message = "Only release engineers and Operations run incidents."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return services.may_run_incidents(request.user)


def _visible(request):
    """Team members see every incident; everyone else, the public ones."""
    incidents = Incident.objects.all()
    if not services.may_run_incidents(request.user):
        incidents = incidents.public()
    return selectors.with_updates(incidents)


@method_decorator(public_status_api, name="get")
class StatusView(APIView):
    """Each component's service status now, and the open incidents."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]

    @extend_schema(
        responses=inline_serializer(
            "Status",
            {
                "at": serializers.DateTimeField(),
                "status": serializers.CharField(help_text="The worst component status."),
                "components": ComponentStatusSerializer(many=True),
                "incidents": IncidentSerializer(many=True),
            },
        )
    )
    def get(self, request):
        now = getattr(request, "now", None) or timezone.now()
        statuses = selectors.component_statuses(now)
        components = [
            {
                "component": s.component.slug,
                "name": s.component.name,
                "status": s.level,
                "incidents": [i.pk for i in s.incidents],
            }
            for s in statuses
        ]
        return Response(
            {
                "at": iso_utc(now),
                "status": selectors.overall(statuses),
                "components": components,
                "incidents": IncidentSerializer(selectors.open_incidents(), many=True).data,
            }
        )


class IncidentList(generics.ListAPIView):
    """Incidents, newest first (`?state=open` for the open ones only); POST opens one."""

    anonymous_reads = True

    permission_classes = [ReadAnyRunIncidents]
    throttle_classes = [PublicThrottle]
    serializer_class = IncidentSerializer
    pagination_class = Pagination

    def get_queryset(self):
        incidents = _visible(self.request).order_by("-started_at", "-id")
        state = self.request.query_params.get("state")
        if state == "open":
            incidents = incidents.open()
        elif state:
            if state not in Incident.State.values:
                states = ", ".join(Incident.State.values)
                raise exceptions.ValidationError(
                    {"state": [f"'{state}' is not a state; one of: open, {states}."]}
                )
            incidents = incidents.filter(state=state)
        return incidents

    @extend_schema(request=IncidentWriteSerializer, responses={201: IncidentSerializer})
    def post(self, request):
        data = IncidentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_open(by=request.user, **data.validated_data)
        return _created(incident)


def _created(incident) -> Response:
    incident = selectors.with_updates(Incident.objects.filter(pk=incident.pk)).get()
    return Response(
        IncidentSerializer(incident).data,
        status=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/incidents/{incident.pk}/"},
    )


class IncidentDetail(generics.RetrieveAPIView):
    anonymous_reads = True
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]
    serializer_class = IncidentSerializer

    def get_queryset(self):
        return _visible(self.request)


class _IncidentStep(APIView):
    permission_classes = [ReadAnyRunIncidents]

    def incident(self, pk) -> Incident:
        return get_object_or_404(Incident.objects.all(), pk=pk)

    def answer(self, update) -> Response:
        return Response(IncidentUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


class IncidentUpdates(_IncidentStep):
    """Post an update: what is known now, perhaps a new state or impact, the next promise."""

    problem_responses = {"POST": ["404", "409"]}

    @extend_schema(request=UpdateWriteSerializer, responses={201: IncidentUpdateSerializer})
    def post(self, request, pk: int):
        data = UpdateWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        update = services.incident_update(
            incident=self.incident(pk), by=request.user, **data.validated_data
        )
        return self.answer(update)


class IncidentResolve(_IncidentStep):
    """Back to normal: closes the incident and records how long it lasted."""

    problem_responses = {"POST": ["404", "409"]}

    @extend_schema(request=ResolveSerializer, responses={201: IncidentUpdateSerializer})
    def post(self, request, pk: int):
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        update = services.incident_resolve(
            incident=self.incident(pk), by=request.user, **data.validated_data
        )
        return self.answer(update)


class IncidentRollback(_IncidentStep):
    """Roll a release of an affected component back, in answer to this incident."""

    problem_responses = {"POST": ["404", "409"]}

    @extend_schema(request=IncidentRollbackSerializer, responses={201: IncidentUpdateSerializer})
    def post(self, request, pk: int):
        data = IncidentRollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = self.incident(pk)
        release = Release.objects.filter(pk=data.validated_data["release"]).first()
        if release is None:
            raise exceptions.ValidationError(
                {"release": [f"Unknown release {data.validated_data['release']}."]}
            )
        with release_errors():  # a refused rollback reads as releases' refusals do
            update = services.incident_rollback(
                incident=incident,
                release=release,
                reason=data.validated_data["reason"],
                by=request.user,
            )
        return self.answer(update)
