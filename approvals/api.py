"""Approvals over the API: ask, list, approve, reject, withdraw."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import roles
from approvals import services
from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.serializers import (
    ApprovalRequestSerializer,
    DecideSerializer,
    RejectSerializer,
)
from releases.models import Release


class ReleaseTeam(permissions.BasePermission):
    """Release engineers and senior managers see approvals; nobody else knows they exist."""

    message = "Approvals are for release engineers and senior management."

    def has_permission(self, request, view):
        user = request.user
        return roles.is_release_team(user)


class ApprovalRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Approval requests, most urgent and oldest first; decide with approve / reject."""

    serializer_class = ApprovalRequestSerializer
    filterset_fields = ["status", "urgency", "release"]
    ordering_fields = ["created_at", "slot_start"]
    problem_responses = {"POST": ["409"]}

    def get_permissions(self):
        return [permissions.IsAuthenticated()]

    def get_queryset(self):
        queryset = ApprovalRequest.objects.for_list().inbox_order()
        user = self.request.user
        if not roles.is_release_team(user):
            return queryset.none()  # customers: as if there were none (404 on a detail)
        return queryset

    def list(self, request, *args, **kwargs):
        if not ReleaseTeam().has_permission(request, self):
            raise exceptions.PermissionDenied(ReleaseTeam.message)
        return super().list(request, *args, **kwargs)

    def _decide(self, request, verdict, body_serializer=DecideSerializer):
        approval = self.get_object()
        body = body_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.request_decide(
            request=approval,
            by=request.user,
            verdict=verdict,
            comment=body.validated_data.get("comment", ""),
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=approval.pk)).data)

    @extend_schema(request=DecideSerializer, responses=ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve (senior management; not the requester nor the release's owner)."""
        return self._decide(request, ApprovalDecision.Verdict.APPROVE)

    @extend_schema(request=RejectSerializer, responses=ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject, saying why in `comment` (required)."""
        return self._decide(request, ApprovalDecision.Verdict.REJECT, RejectSerializer)

    @extend_schema(request=None, responses=ApprovalRequestSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The requester takes the request back."""
        approval = self.get_object()
        services.request_withdraw(request=approval, by=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=approval.pk)).data)


class ReleaseApprovalRequests(APIView):
    """Ask senior management to authorize an exceptional release inside a slot."""

    permission_classes = [ReleaseTeam]
    problem_responses = {"POST": ["404", "409"]}

    @extend_schema(request=ApprovalRequestSerializer, responses={201: ApprovalRequestSerializer})
    def post(self, request, release_id: int):
        release = get_object_or_404(Release.objects.select_related("component"), pk=release_id)
        body = ApprovalRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        created = services.request_create(
            release=release,
            by=request.user,
            urgency=data.get("urgency", "normal"),
            justification=data["justification"],
            slot_start=data["slot_start"],
            slot_end=data["slot_end"],
            waives_notice=data.get("waives_notice", False),
        )
        created = ApprovalRequest.objects.for_list().get(pk=created.pk)
        return Response(ApprovalRequestSerializer(created).data, status=status.HTTP_201_CREATED)
