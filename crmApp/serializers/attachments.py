"""Attachments: the upload form (a file and the record it hangs on) and the stored file's row."""

from django.conf import settings
from rest_framework import serializers

from crmApp.models import ATTACHMENT_PARENTS, Attachment
from crmApp.permissions import get_access
from crmApp.selectors.attachments import attachment_parent
from crmApp.uploads import detect_content_type, safe_file_name

UNRECOGNISED = "The type of this file could not be recognised from its content."
NOT_ALLOWED = "Files of type {content_type} are not allowed."


class AttachmentSerializer(serializers.ModelSerializer):
    parent_id = serializers.IntegerField(read_only=True)
    uploaded_by = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = Attachment
        fields = [
            "id",
            "organization",
            "parent_type",
            "parent_id",
            "name",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "created_at",
        ]
        read_only_fields = fields


class AttachmentUploadSerializer(serializers.Serializer):
    """`multipart/form-data`: `file`, `parent_type` and `parent_id`.

    The parent must be a record of one of the caller's organizations (another organization's
    id reads exactly like a missing one). The file's type is detected from its bytes and must
    be allowed (`ATTACHMENT_ALLOWED_TYPES`); the client's Content-Type is ignored. The name is
    reduced to a safe base name.
    """

    file = serializers.FileField(allow_empty_file=False, use_url=False)
    parent_type = serializers.ChoiceField(choices=sorted(ATTACHMENT_PARENTS))
    parent_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

    def validate_file(self, file):
        name = safe_file_name(getattr(file, "name", "") or "")
        content_type = detect_content_type(file, name=name)
        if content_type is None:
            raise serializers.ValidationError(UNRECOGNISED)
        if content_type not in settings.ATTACHMENT_ALLOWED_TYPES:
            raise serializers.ValidationError(NOT_ALLOWED.format(content_type=content_type))
        file.detected_content_type = content_type
        file.safe_name = name
        return file

    def validate(self, attrs):
        access = get_access(self.context["request"])
        parent = attachment_parent(attrs["parent_type"], access.member_org_ids, attrs["parent_id"])
        if parent is None:
            raise serializers.ValidationError(
                {"parent_id": [f'Invalid pk "{attrs["parent_id"]}" - object does not exist.']}
            )
        attrs["parent"] = parent
        return attrs
