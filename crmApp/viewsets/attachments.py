"""`/api/attachments/`: files on customers, leads and deals, read and written like their parent.

Uploads are `multipart/form-data` (files above `FILE_UPLOAD_MAX_MEMORY_SIZE` are spooled to a
temporary file, so a large upload does not grow the worker's memory). Downloads go through the
API's tenant and permission checks: streamed from local storage as an attachment with the
detected content type and `nosniff`, or, on S3, a redirect to a short-lived signed URL.
"""

from django.conf import settings
from django.http import FileResponse, HttpResponseRedirect
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from crmApp.filters.attachments import AttachmentFilterSet
from crmApp.models import ATTACHMENT_PARENTS
from crmApp.permissions import (
    ParentRecordPermission,
    for_parent,
    organizations_by_parent_kind,
    required_permissions,
)
from crmApp.selectors.attachments import AttachmentSelector
from crmApp.serializers.attachments import AttachmentSerializer, AttachmentUploadSerializer
from crmApp.services import attachments as services
from crmApp.services.blobs import files_storage
from crmApp.viewsets.base import OrganizationScopedMixin


class AttachmentViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    selector = AttachmentSelector()
    serializer_class = AttachmentSerializer
    permission_classes = [ParentRecordPermission]
    filterset_class = AttachmentFilterSet
    ordering_fields = ["id", "name", "size", "created_at"]
    search_fields = ["name"]

    def get_parsers(self):
        # Called before DRF sets `action`: the route's method map says which action this is.
        method = getattr(getattr(self, "request", None), "method", "").lower()
        if getattr(self, "action_map", {}).get(method) == "create":
            return [MultiPartParser()]
        return super().get_parsers()

    def readable_organization_ids(self) -> frozenset[int]:
        # Narrowed per parent kind in filter_queryset: each kind is read with its own resource.
        member = self.access.member_org_ids
        narrowed = self.narrowed_organization_ids()
        return member & narrowed if narrowed is not None else member

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        read = required_permissions(self.basename, "retrieve") or ()
        return self.selector.readable(queryset, organizations_by_parent_kind(self.access, read))

    @extend_schema(request={"multipart/form-data": AttachmentUploadSerializer})
    def create(self, request, *args, **kwargs):
        form = AttachmentUploadSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        parent = form.validated_data["parent"]
        kind = form.validated_data["parent_type"]
        required = for_parent(self.required() or (), ATTACHMENT_PARENTS[kind])
        self.check_organization_write(parent.organization_id, required)
        upload = form.validated_data["file"]
        attachment = services.attachment_create(
            parent=parent,
            file=upload,
            size=upload.size,
            name=upload.safe_name,
            content_type=upload.detected_content_type,
            actor=request.user,
        )
        return Response(self.serialize_detail(attachment), status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.attachment_delete(attachment=instance, actor=self.request.user)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file, as an attachment."
            ),
            302: OpenApiResponse(description="S3 storage: a short-lived signed URL."),
        }
    )
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        attachment = self.get_object()
        storage = files_storage()
        if settings.ATTACHMENTS_STORAGE == "s3":
            url = storage.url(  # type: ignore[call-arg]
                attachment.blob_name,
                parameters={
                    "ResponseContentDisposition": content_disposition_header(True, attachment.name),
                    "ResponseContentType": attachment.content_type,
                },
                expire=settings.ATTACHMENT_URL_EXPIRY_SECONDS,
            )
            return HttpResponseRedirect(url)
        response = FileResponse(
            storage.open(attachment.blob_name, "rb"),
            as_attachment=True,
            filename=attachment.name,
            content_type=attachment.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, no-store"
        return response
