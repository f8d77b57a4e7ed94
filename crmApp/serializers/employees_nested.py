"""The employee "list item" shared by every representation that nests an employee.

Employees' own list, and the `assigned_to` / `manager` objects of customers, leads and deals all
use this one shape. `manager_name` reads `employee.manager`: callers must
`select_related("<path>__manager")` so a page of rows costs no extra query per row.
"""

from rest_framework import serializers

from crmApp.models import Employee
from crmApp.serializers.base import CachedFieldsModelSerializer


class EmployeeListItemSerializer(CachedFieldsModelSerializer):
    full_name = serializers.CharField(read_only=True)
    manager_name = serializers.SerializerMethodField()

    class Meta:
        model = Employee
        fields = [
            "id",
            "code",
            "full_name",
            "email",
            "phone",
            "department",
            "job_title",
            "status",
            "manager_name",
        ]
        read_only_fields = fields

    def get_manager_name(self, employee: Employee) -> str | None:
        manager = employee.manager
        return manager.full_name if manager is not None else None
