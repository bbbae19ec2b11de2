"""Window policies, freezes and the changes to them, over the API.

Reads are for anyone with a key. A write is a rule change: one that only tightens the rules
(a new freeze, a longer one, a narrower window) is in force at once (200/201, with the change
and its preview); anything else waits for senior management (202, the pending change).
"""

from __future__ import annotations

from contextlib import contextmanager

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import roles
from approvals.serializers import DecideSerializer as CommentSerializer
from approvals.serializers import RejectSerializer
from releases.models import Freeze, WindowPolicy
from rules import services
from rules.models import RuleChange, RuleDecision
from rules.serializers import (
    FreezeWriteSerializer,
    Justification,
    PolicyWriteSerializer,
    RuleChangeSerializer,
)


class ReadAnyProposeRuleMakers(permissions.BasePermission):
    """Anyone authenticated reads the rules; release engineers and senior managers change them."""

    message = "Only release engineers and senior managers change the release rules."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return roles.is_release_team(user)


@contextmanager
def domain_errors():
    try:
        yield
    except services.RuleChangeRefused as exc:
        # A decision's missing comment is bad input about the comment; every other refusal
        # is the problem response the API's handler makes of any refusal.
        if exc.status == 400:
            raise exceptions.ValidationError({"comment": [exc.detail]}) from None
        raise


ANSWERS = {
    200: OpenApiResponse(description="It only tightens the rules: in force now."),
    202: OpenApiResponse(
        RuleChangeSerializer, description="It loosens the rules: proposed to senior management."
    ),
}


class _RuleViewSet(viewsets.ModelViewSet):
    target = ""
    permission_classes = [ReadAnyProposeRuleMakers]
    problem_responses = {"DELETE": ["409"]}

    def _answer(self, change: RuleChange, ok_status: int) -> Response:
        if change.status != RuleChange.Status.APPLIED:
            return Response(
                RuleChangeSerializer(change).data,
                status=status.HTTP_202_ACCEPTED,
                headers={"Location": f"/api/v1/rule-changes/{change.pk}/"},
            )
        rule = self.get_queryset().get(pk=change.target_id)
        context = {**self.get_serializer_context(), "rule_change": change}
        return Response(self.get_serializer_class()(rule, context=context).data, status=ok_status)

    def _values(self, serializer) -> tuple[dict, str]:
        values = dict(serializer.validated_data)
        return values, values.pop("justification", "")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values, why = self._values(serializer)
        with domain_errors():
            change = services.rules_change(
                target=self.target, operation="create", by=request.user, values=values, reason=why
            )
        return self._answer(change, status.HTTP_201_CREATED)

    def update(self, request, *args, partial=False, **kwargs):
        rule = self.get_object()
        serializer = self.get_serializer(rule, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values, why = self._values(serializer)
        with domain_errors():
            change = services.rules_change(
                target=self.target, operation="update", by=request.user, obj=rule,
                values=values, reason=why,
            )  # fmt: skip
        return self._answer(change, status.HTTP_200_OK)

    @extend_schema(
        request=Justification,
        parameters=[
            OpenApiParameter(
                "justification",
                str,
                description="Why, for senior management (or as `justification` in a JSON body).",
            )
        ],
        responses={202: RuleChangeSerializer},
    )
    def destroy(self, request, *args, **kwargs):
        """Propose removing it (senior management decides); the justification in the body or
        the query string, checked as on every other write."""
        rule = self.get_object()
        given = request.data or {"justification": request.query_params.get("justification", "")}
        why = Justification(data=given)
        why.is_valid(raise_exception=True)
        with domain_errors():
            change = services.rules_change(
                target=self.target, operation="delete", by=request.user, obj=rule,
                reason=why.validated_data.get("justification", ""),
            )  # fmt: skip
        return self._answer(change, status.HTTP_200_OK)


@extend_schema(methods=["POST"], responses={201: PolicyWriteSerializer, 202: RuleChangeSerializer})
@extend_schema(
    methods=["PUT", "PATCH"], responses={200: PolicyWriteSerializer, 202: RuleChangeSerializer}
)
class WindowPolicyViewSet(_RuleViewSet):
    """Window policies. Creating, widening or deleting one is proposed to senior management."""

    target = "policy"
    queryset = WindowPolicy.objects.with_scope()
    serializer_class = PolicyWriteSerializer
    ordering_fields = ["name", "effective_from"]


@extend_schema(methods=["POST"], responses={201: FreezeWriteSerializer, 202: RuleChangeSerializer})
@extend_schema(
    methods=["PUT", "PATCH"], responses={200: FreezeWriteSerializer, 202: RuleChangeSerializer}
)
class FreezeViewSet(_RuleViewSet):
    """Freezes. Declaring or lengthening one is free; shortening, narrowing or lifting one is
    proposed to senior management."""

    target = "freeze"
    queryset = Freeze.objects.with_scope()
    serializer_class = FreezeWriteSerializer
    ordering_fields = ["starts_at", "effective_from"]


class RuleTeam(permissions.BasePermission):
    message = "Rule changes are for release engineers and senior management."

    def has_permission(self, request, view):
        user = request.user
        return roles.is_release_team(user)


class RuleChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Proposed and past rule changes, pending first; senior management decides."""

    serializer_class = RuleChangeSerializer
    permission_classes = [RuleTeam]
    filterset_fields = ["status", "target", "operation"]
    ordering_fields = ["created_at"]
    problem_responses = {"POST": ["409"]}

    def get_queryset(self):
        return (
            RuleChange.objects.select_related("proposer")
            .prefetch_related("decisions__approver")
            .inbox_order()
        )

    def _decide(self, request, verdict, body_class):
        change = self.get_object()
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        with domain_errors():
            services.rule_change_decide(
                change=change,
                by=request.user,
                verdict=verdict,
                comment=body.validated_data.get("comment", ""),
            )
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(request=CommentSerializer, responses=RuleChangeSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve (senior management; never the proposer). A quorum puts it in force."""
        return self._decide(request, RuleDecision.Verdict.APPROVE, CommentSerializer)

    @extend_schema(request=RejectSerializer, responses=RuleChangeSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Reject, saying why in `comment` (required)."""
        return self._decide(request, RuleDecision.Verdict.REJECT, RejectSerializer)

    @extend_schema(request=None, responses=RuleChangeSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        """The proposer takes a pending change back."""
        change = self.get_object()
        with domain_errors():
            services.rule_change_withdraw(change=change, by=request.user)
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)
