"""Public notes and notices over the API (read for anyone; notices written by engineers)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils import timezone
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import roles
from accounts.permissions import PublicThrottle
from api.pagination import page_of
from notes import selectors, services
from notes.http import public_api
from notes.models import AdvanceNotice
from notes.serializers import (
    DaySerializer,
    NewNoticeSerializer,
    NotesQuerySerializer,
    NoticeSerializer,
)
from releases.models import Release


@method_decorator(public_api, name="get")
class NotesView(APIView):
    """Aggregated public release notes, one entry per Pacific window date, newest first."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PublicThrottle]
    problem_responses = {"GET": ["404"]}  # a page past the last

    @extend_schema(
        parameters=[NotesQuerySerializer],
        responses=inline_serializer(
            "NotesPage",
            {
                "count": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "pages": serializers.IntegerField(),
                "results": DaySerializer(many=True),
            },
        ),
    )
    def get(self, request):
        query = NotesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        releases = selectors.filtered(
            at=getattr(request, "now", None) or timezone.now(),
            component=values.get("component"),
            item_type=values.get("type"),
            start=values.get("start"),
            end=values.get("end"),
        )
        page = page_of(Paginator(releases, 50), request.query_params.get("page"))
        days = selectors.by_day(page, item_type=values.get("type"))
        return Response(
            {
                "count": page.paginator.count,
                "page": page.number,
                "pages": page.paginator.num_pages,
                "results": DaySerializer(days, many=True).data,
            }
        )


class EngineersWrite(permissions.BasePermission):
    message = "Only release engineers write notices."

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or roles.is_release_engineer(request.user)


class NoticeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Advance notices: public once published; drafts only for release engineers."""

    serializer_class = NoticeSerializer
    permission_classes = [EngineersWrite]
    anonymous_reads = True  # published notices are public
    problem_responses = {"POST": ["409"], "PUT": ["409"], "PATCH": ["409"]}
    throttle_classes = [PublicThrottle]
    filterset_fields = ["status", "impact_level"]

    def get_queryset(self):
        notices = (
            selectors.public_notices()
            if not roles.is_release_engineer(self.request.user)
            else AdvanceNotice.objects.select_related("release__component").prefetch_related(
                "components", "revisions"
            )
        )
        return notices.order_by("tentative_start", "id")

    def get_serializer_class(self):
        return NewNoticeSerializer if self.action == "create" else NoticeSerializer

    def create(self, request, *args, **kwargs):
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        release = Release.objects.filter(pk=data.pop("release")).first()
        if release is None:
            raise exceptions.ValidationError({"release": ["Unknown release."]})
        notice = services.notice_create(release=release, by=request.user, **data)
        return Response(
            NoticeSerializer(self.get_queryset().get(pk=notice.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def update(self, request, *args, partial=False, **kwargs):
        notice = self.get_object()
        body = self.get_serializer(notice, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        services.notice_update(notice=notice, by=request.user, **body.validated_data)
        return Response(NoticeSerializer(self.get_queryset().get(pk=notice.pk)).data)

    def _step(self, request, step):
        notice = self.get_object()
        step(notice=notice, by=request.user)
        return Response(NoticeSerializer(self.get_queryset().get(pk=notice.pk)).data)

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        """Publish a draft; every field the guide asks for must be there."""
        return self._step(request, services.notice_publish)

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The release will not happen as announced."""
        return self._step(request, services.notice_withdraw)

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def done(self, request, pk=None):
        """The release happened."""
        return self._step(request, services.notice_done)
