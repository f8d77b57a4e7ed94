"""`GET /api/<customers|leads|deals>/{id}/timeline/`: one record's history, newest first.

The record must be visible to the caller (another organization's is a 404) and the route needs
the resource's view permission (the permission table). Audit rows join the timeline only for
holders of `audit:view` in the record's organization, the permission the audit list needs:
the timeline must not become a way around it. Activities and stage changes are part of the
record itself and shown to everyone who may read it.
"""

import base64
import binascii
import datetime
import json

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from crmApp.selectors.timeline import ACTIVITY, AUDIT, STAGE_CHANGE, Position, timeline_page

AUDIT_VIEW = (("audit", "view"),)
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
TIMELINE_PARAMS = frozenset({"cursor", "page_size", "organization", "format"})
INVALID_CURSOR = "Invalid cursor."


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.at.isoformat(), position.kind, position.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Position:
    try:
        padded = text + "=" * (-len(text) % 4)
        at, kind, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.datetime.fromisoformat(at)
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeError):
        raise ValidationError({"cursor": [INVALID_CURSOR]}) from None
    if (
        kind not in (ACTIVITY, AUDIT, STAGE_CHANGE)
        or not isinstance(pk, int)
        or not 0 < pk < 2**63
        or moment.tzinfo is None
    ):
        raise ValidationError({"cursor": [INVALID_CURSOR]})
    return Position(at=moment, kind=kind, id=pk)


def page_size_of(raw: str | None) -> int:
    """`page_size`, capped at 100; zero, negative or junk fall back to 25 (as on every list)."""
    try:
        size = int(raw) if raw is not None else DEFAULT_PAGE_SIZE
    except ValueError:
        return DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE) if size > 0 else DEFAULT_PAGE_SIZE


class TimelineActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class TimelineEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ACTIVITY, AUDIT, STAGE_CHANGE])
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = TimelineActorSerializer(allow_null=True)
    data = serializers.DictField(
        help_text="activity: type, subject, body, due_at, completed_at, assignee; audit: "
        "action, changes, request_id; stage_change: stage_id, stage_name, outcome, left_at."
    )


class TimelinePageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    results = TimelineEntrySerializer(many=True)


class TimelineMixin:
    """Adds the `timeline` route to the customer, lead and deal viewsets."""

    @extend_schema(
        summary="The record's activities, audit entries and stage changes, newest first",
        parameters=[
            OpenApiParameter("cursor", str, description="The `next` link's cursor."),
            OpenApiParameter("page_size", int, description="Entries per page (max 100)."),
        ],
        responses=TimelinePageSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def timeline(self, request, pk=None):
        params = request.query_params
        unknown = sorted(set(params) - TIMELINE_PARAMS)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        cursor = params.get("cursor")
        position = decode_cursor(cursor) if cursor else None
        size = page_size_of(params.get("page_size"))
        record = self.get_object()
        with_audit = self.access.has(record.organization_id, AUDIT_VIEW)
        entries, following = timeline_page(
            record, position=position, size=size, with_audit=with_audit
        )
        next_link = None
        if following is not None:
            next_link = replace_query_param(
                request.build_absolute_uri(), "cursor", encode_cursor(following)
            )
        return Response({"next": next_link, "results": entries})
