"""OpenAPI generation: every operation documents its problem+json errors."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from api.problems import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A URI naming the kind of problem.")
    title = serializers.CharField(help_text="The HTTP status phrase.")
    status = serializers.IntegerField()
    detail = serializers.CharField(help_text="A sentence saying what went wrong.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For 400: the messages of each invalid field, by its path (`items.1.title`).",
    )
    reasons = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        required=False,
        help_text="For a refused transition (409): every failing guard as {code, detail}.",
    )


ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `errors` names each bad field.",
    "401": "No valid credentials (missing, unknown or revoked API key).",
    "403": "Authenticated, but not allowed to do this.",
    "404": "No such object, or not visible to you.",
    "409": "Refused by a rule; `reasons` lists every failing one.",
    "412": "The object changed since the ETag given in If-Match.",
    "429": "Too many requests; retry after the number of seconds in Retry-After.",
}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the problem+json error responses of each operation.

    A view with ``anonymous_reads = True`` (its own permission lets anyone read) documents its
    reads as needing no credentials.
    """

    def get_auth(self):
        auths = super().get_auth()
        anonymous = getattr(self.view, "anonymous_reads", False) and self.method == "GET"
        if anonymous and {} not in auths:
            auths.append({})
        return auths

    def _error_codes(self) -> list[str]:
        codes = ["400", "401", "403", "429"]
        if "{" in self.path or (self.method == "GET" and self._is_list_view()):
            codes.append("404")  # an object, or a page past the last
        extra = getattr(self.view, "problem_responses", {})
        codes.extend(extra.get(self.method, extra.get("*", [])))
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        component = self.resolve_serializer(ProblemSerializer, "response")
        for code in self._error_codes():
            responses.setdefault(
                code,
                {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {PROBLEM_CONTENT_TYPE: {"schema": component.ref}},
                },
            )
        return responses


def empty_means_omitted(result, generator, request, public):
    """Document what every list does: ``?status=`` (an empty value, as HTML forms send for a
    field left blank) is the same as leaving the parameter out. Required ones stay required."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
