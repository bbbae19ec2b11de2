"""REST API for components, window policies, freezes, the windows listing and the gate."""

from __future__ import annotations

from contextlib import contextmanager

import django_filters
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import roles
from accounts.authentication import ApiKeyAuthentication
from accounts.permissions import PublicThrottle, ReleaseTeamReadEngineerWrite
from api.pagination import KeysetPagination, Pagination
from api.problems import Refused
from lib.errors import Invalid
from releases import gate, selectors, services
from releases.lifecycle import TRANSITIONS
from releases.models import Component, Release, ReleaseItem
from releases.serializers import (
    AwareDateTimeFormField,
    ComponentSerializer,
    NewReleaseItemSerializer,
    ReleaseCreateSerializer,
    ReleaseDecisionSerializer,
    ReleaseEventSerializer,
    ReleaseItemSerializer,
    ReleaseSerializer,
    TransitionSerializer,
    WindowSerializer,
    WindowsQuerySerializer,
    release_payloads,
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
    queryset = Component.objects.with_current_version()
    serializer_class = ComponentSerializer
    lookup_field = "slug"
    filterset_fields = ["kind"]
    ordering_fields = ["slug", "name"]


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


class JSONOnly(BaseContentNegotiation):
    """The gate speaks JSON whatever the Accept header says: no negotiation on its hot path."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class GateView(APIView):
    """May this component ship now (or at `at`)? Allow or deny, with the reason and a trace."""

    # Pipelines ask without a key; the view only answers GET, so anything else is a 405.
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]
    renderer_classes = [JSONRenderer]  # pipelines read JSON; no browsable page on this path
    content_negotiation_class = JSONOnly
    authentication_classes = [ApiKeyAuthentication]  # pipelines carry a key or nothing

    @extend_schema(
        parameters=gate.PARAMETERS,
        responses=ReleaseDecisionSerializer,
        description="Without `release`: may the component ship at `at`? With `release`: may "
        "that release start at `at` — every guard of its start, with all their reasons.",
    )
    def get(self, request):
        team = roles.is_release_team(request.user)
        try:
            return Response(gate.ask(request.query_params, team=team))
        except Invalid as exc:
            raise ValidationError({k: [v] for k, v in exc.errors.items()}) from None


# --- Releases ------------------------------------------------------------------------------------


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The release changed since the ETag given in If-Match."


@contextmanager
def domain_errors():
    """The domain's refusals and validation errors, as the API's problem responses."""
    try:
        yield
    except services.TransitionRefused as exc:
        raise Refused(
            f"The {exc.action} was refused: " + " ".join(r.detail for r in exc.refusals),
            [r.as_dict() for r in exc.refusals],
        ) from None
    except services.StaleRelease as exc:
        raise PreconditionFailed(str(exc)) from None


class AwareDateTimeFilter(django_filters.Filter):
    field_class = AwareDateTimeFormField


class ReleaseFilter(django_filters.FilterSet):
    component = django_filters.ModelChoiceFilter(
        to_field_name="slug",
        queryset=Component.objects.all(),
        help_text="Its slug.",
        error_messages={"invalid_choice": "Unknown component."},
    )
    scheduled_after = AwareDateTimeFilter(field_name="scheduled_start", lookup_expr="gte")
    scheduled_before = AwareDateTimeFilter(field_name="scheduled_start", lookup_expr="lt")

    class Meta:
        model = Release
        fields = ["component", "state", "kind", "impact", "scheduled_after", "scheduled_before"]


class ReleaseViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Releases: schedule, edit (with If-Match), and move through the lifecycle."""

    queryset = Release.objects.for_list()
    serializer_class = ReleaseSerializer
    permission_classes = [ReleaseTeamReadEngineerWrite]
    filterset_class = ReleaseFilter
    ordering_fields = ["scheduled_start", "version", "created_at", "state"]
    ordering = ["-scheduled_start", "-id"]
    pagination_class = KeysetPagination  # a million releases: pages by cursor
    problem_responses = {"POST": ["409"], "PUT": ["409", "412"], "PATCH": ["409", "412"]}

    def retrieve(self, request, *args, **kwargs):
        release = self.get_object()
        return Response(self.get_serializer(release).data, headers={"ETag": release.etag})

    def list(self, request, *args, **kwargs):
        """Releases, newest first (filters and ordering below); built without prefetches or the
        serializer's per-field work (``release_payloads``, pinned to it by a test)."""
        releases = self.filter_queryset(Release.objects.for_payload())
        return self.get_paginated_response(release_payloads(self.paginate_queryset(releases)))

    def get_serializer_class(self):
        return ReleaseCreateSerializer if self.action == "create" else ReleaseSerializer

    @extend_schema(request=ReleaseCreateSerializer, responses={201: ReleaseSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with domain_errors():
            release = services.release_create(by=request.user, **serializer.validated_data)
        release = self.get_queryset().get(pk=release.pk)
        return Response(
            ReleaseSerializer(release, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
            headers={"ETag": release.etag, "Location": f"{request.path}{release.pk}/"},
        )

    @extend_schema(parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)])
    def update(self, request, *args, partial=False, **kwargs):
        release = self.get_object()
        serializer = self.get_serializer(release, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        with domain_errors():
            release = services.release_update(
                release=release,
                by=request.user,
                if_match=request.headers.get("If-Match"),
                **serializer.validated_data,
            )
        release = self.get_queryset().get(pk=release.pk)
        return Response(self.get_serializer(release).data, headers={"ETag": release.etag})

    def _transition(self, request, action):
        release = self.get_object()
        body = TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        kwargs = {}
        if TRANSITIONS[action].reason != "none":
            kwargs["reason"] = body.validated_data.get("reason", "")
        if action == "complete" and "shipped" in body.validated_data:
            kwargs["shipped_item_ids"] = body.validated_data["shipped"]
        with domain_errors():
            TRANSITIONS[action].service(release=release, by=request.user, **kwargs)
        release = self.get_queryset().get(pk=release.pk)
        return Response(self.get_serializer(release).data, headers={"ETag": release.etag})

    @extend_schema(request=None, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def announce(self, request, pk=None):
        """Announce the items to be released (planned → announced)."""
        return self._transition(request, "announce")

    @extend_schema(request=None, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        """Start deploying (announced → in progress), inside an open window or approved slot."""
        return self._transition(request, "start")

    @extend_schema(request=TransitionSerializer, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def complete(self, request, pk=None):
        """Record what actually shipped (in progress → released)."""
        return self._transition(request, "complete")

    @extend_schema(request=None, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        """Post-release testing passed (released → verified)."""
        return self._transition(request, "verify")

    @extend_schema(request=TransitionSerializer, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        """Roll back now, at any hour, to the previous live version; `reason` is required."""
        return self._transition(request, "rollback")

    @extend_schema(request=TransitionSerializer, responses=ReleaseSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Call it off (planned or announced → cancelled)."""
        return self._transition(request, "cancel")

    @extend_schema(responses=ReleaseEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=Pagination)  # numbered, counted
    def events(self, request, pk=None):
        """The release's timeline, oldest first (append-only)."""
        release = self.get_object()
        page = self.paginate_queryset(release.events.select_related("actor").order_by("at", "id"))
        return self.get_paginated_response(ReleaseEventSerializer(page, many=True).data)


class ItemFilter(django_filters.FilterSet):
    class Meta:
        model = ReleaseItem
        fields = ["release", "type", "public", "planned", "shipped"]


class ReleaseItemViewSet(viewsets.ModelViewSet):
    """Items of releases; every change lands on the release's timeline."""

    queryset = ReleaseItem.objects.all()
    serializer_class = ReleaseItemSerializer
    permission_classes = [ReleaseTeamReadEngineerWrite]
    filterset_class = ItemFilter
    problem_responses = {"*": ["409"]}

    def get_serializer_class(self):
        return NewReleaseItemSerializer if self.action == "create" else ReleaseItemSerializer

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        with domain_errors():
            serializer.instance = services.item_add(
                release=data.pop("release"), by=self.request.user, **data
            )

    def perform_update(self, serializer):
        with domain_errors():
            serializer.instance = services.item_update(
                item=serializer.instance, by=self.request.user, **serializer.validated_data
            )

    def perform_destroy(self, instance):
        with domain_errors():
            services.item_remove(item=instance, by=self.request.user)
