"""Employee detail: nested user and manager, writable `user_id`/`manager_id`.

The list item lives in `employees_nested.py` (shared with customers, leads and deals); it carries
no compensation. The detail's `salary` and `commission_rate` are shown only to callers who may
update employees in that employee's organization (`COMPENSATION_READERS`).
"""

from django.db.models import Exists, OuterRef
from rest_framework import serializers

from crmApp.models import Employee, User, UserOrganization
from crmApp.permissions import get_access
from crmApp.serializers.base import ScopedRelatedField, TenantModelSerializer, ZipCodeField
from crmApp.serializers.employees_nested import EmployeeListItemSerializer
from crmApp.serializers.users import UserSerializer

#: How far up the manager chain we look for a reporting cycle.
MAX_MANAGER_DEPTH = 100

#: The fields only `COMPENSATION_READERS` see.
COMPENSATION_FIELDS = ("salary", "commission_rate")
#: Who sees compensation: whoever may set it, in the employee's own organization.
COMPENSATION_READERS = (("employees", "update"),)
COMPENSATION_HELP = (
    "Present only when the caller may update employees in the employee's organization."
)


def may_see_compensation(context, organization_id: int | None) -> bool:
    """Whether the caller of `context` may read compensation in `organization_id`.

    Read from the context at representation time: the serializer that renders answers is shared
    between requests (`represent()`), so nothing about the caller may be decided when its fields
    are built. No request (a representation outside an API call) shows nothing.
    """
    request = context.get("request")
    if request is None:
        return False
    return get_access(request).has(organization_id, COMPENSATION_READERS)


class MemberUserField(serializers.PrimaryKeyRelatedField):
    """A user id, limited to active members of the caller's organizations.

    The serializer then checks membership of the employee's own organization; any other user is
    reported exactly like a missing one.
    """

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return User.objects.none()
        memberships = UserOrganization.objects.filter(
            user=OuterRef("pk"),
            organization_id__in=get_access(request).member_org_ids,
            is_active=True,
        )
        return User.objects.filter(Exists(memberships))


class EmployeeSerializer(TenantModelSerializer):
    user = UserSerializer(read_only=True, allow_null=True)
    manager = EmployeeListItemSerializer(read_only=True, allow_null=True)
    user_id = MemberUserField(source="user", allow_null=True, required=False)
    manager_id = ScopedRelatedField(
        source="manager", queryset=Employee.objects.all(), allow_null=True, required=False
    )
    full_name = serializers.CharField(read_only=True)
    zip_code = ZipCodeField()

    class Meta:
        model = Employee
        fields = [
            "id",
            "organization",
            "user",
            "code",
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "department",
            "job_title",
            "employment_type",
            "hire_date",
            "termination_date",
            "status",
            "salary",
            "commission_rate",
            "manager",
            "address",
            "city",
            "state",
            "zip_code",
            "country",
            "created_at",
            "updated_at",
            "user_id",
            "manager_id",
        ]
        read_only_fields = ["id", "code", "created_at", "updated_at"]
        extra_kwargs = {name: {"help_text": COMPENSATION_HELP} for name in COMPENSATION_FIELDS}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not may_see_compensation(self.context, instance.organization_id):
            for name in COMPENSATION_FIELDS:
                data.pop(name, None)
        return data

    def validate_department(self, value: str | None) -> str | None:
        return value or None

    def validate(self, attrs):
        attrs = super().validate(attrs)
        organization_id = (
            self.instance.organization_id if self.instance is not None else attrs["organization"].pk
        )
        errors = {}
        user = attrs.get("user")
        if user is not None and not self._is_active_member(user, organization_id):
            errors["user_id"] = [self._missing("user_id", user.pk)]
        manager = attrs.get("manager")
        if manager is not None and self.instance is not None:
            if manager.pk == self.instance.pk:
                errors["manager_id"] = ["An employee cannot be their own manager."]
            elif self._reports_to(manager, self.instance.pk):
                errors["manager_id"] = ["An employee cannot report to one of their own reports."]
        hire_date = attrs.get("hire_date", getattr(self.instance, "hire_date", None))
        termination_date = attrs.get(
            "termination_date", getattr(self.instance, "termination_date", None)
        )
        if hire_date and termination_date and termination_date < hire_date:
            errors["termination_date"] = ["The termination date cannot be before the hire date."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _missing(self, field_name: str, pk) -> str:
        return self.fields[field_name].error_messages["does_not_exist"].format(pk_value=pk)

    @staticmethod
    def _is_active_member(user: User, organization_id: int) -> bool:
        return UserOrganization.objects.filter(
            user=user, organization_id=organization_id, is_active=True
        ).exists()

    @staticmethod
    def _reports_to(manager: Employee, employee_id: int) -> bool:
        """Whether `employee_id` is somewhere above `manager` (which would close a cycle)."""
        current = manager.manager_id
        seen = {manager.pk}
        for _ in range(MAX_MANAGER_DEPTH):
            if current is None or current in seen:
                return False
            if current == employee_id:
                return True
            seen.add(current)
            current = (
                Employee.objects.filter(pk=current).values_list("manager_id", flat=True).first()
            )
        return False
