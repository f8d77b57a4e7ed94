"""Vendor list item and detail."""

from crmApp.models import Vendor
from crmApp.serializers.base import CachedFieldsModelSerializer, TenantModelSerializer, ZipCodeField


class VendorListItemSerializer(CachedFieldsModelSerializer):
    class Meta:
        model = Vendor
        fields = ["id", "code", "name", "email", "phone", "vendor_type", "status"]
        read_only_fields = fields


class VendorSerializer(TenantModelSerializer):
    zip_code = ZipCodeField()

    class Meta:
        model = Vendor
        fields = [
            "id",
            "organization",
            "code",
            "name",
            "contact_person",
            "email",
            "phone",
            "website",
            "vendor_type",
            "status",
            "payment_terms",
            "tax_id",
            "credit_limit",
            "address",
            "city",
            "state",
            "zip_code",
            "country",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "code", "created_at", "updated_at"]
