import django_filters

from crmApp.filters.base import IdFilter, StrictFilterSet
from crmApp.models import Employee
from crmApp.models.base import ActiveStatus


class EmployeeFilterSet(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=ActiveStatus.choices)
    department = django_filters.CharFilter(max_length=100)
    employment_type = django_filters.ChoiceFilter(choices=Employee.EmploymentType.choices)
    manager = IdFilter(field_name="manager_id")

    class Meta:
        model = Employee
        fields = ["status", "department", "employment_type", "manager"]
