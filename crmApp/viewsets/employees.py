from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.employees import EmployeeFilterSet
from crmApp.models import Employee
from crmApp.serializers.employees import EmployeeSerializer
from crmApp.serializers.employees_nested import EmployeeListItemSerializer
from crmApp.serializers.schema import EmployeeMessageSerializer
from crmApp.services.employees import employee_terminate
from crmApp.viewsets.base import OrganizationScopedViewSet

#: Upper bound of the unpaginated `departments` array (contract C5).
MAX_DEPARTMENTS = 500


class TerminateSerializer(serializers.Serializer):
    termination_date = serializers.DateField(required=False, allow_null=True)


class EmployeeViewSet(OrganizationScopedViewSet):
    queryset = Employee.objects.all()
    serializer_classes = {"default": EmployeeSerializer, "list": EmployeeListItemSerializer}
    filterset_class = EmployeeFilterSet
    search_fields = ["first_name", "last_name", "email"]
    ordering_fields = [
        "id",
        "code",
        "first_name",
        "last_name",
        "email",
        "phone",
        "department",
        "job_title",
        "status",
    ]

    def scope_queryset(self, queryset):
        if self.action in ("list", "departments"):
            return queryset.select_related("manager")
        return queryset.select_related("user", "manager__manager")

    @extend_schema(responses={200: {"type": "array", "items": {"type": "string"}}})
    @action(detail=False, methods=["get"], pagination_class=None)
    def departments(self, request):
        names = (
            self.get_queryset()
            .exclude(department__isnull=True)
            .exclude(department="")
            .order_by("department")
            .values_list("department", flat=True)
            .distinct()[:MAX_DEPARTMENTS]
        )
        return Response(list(names))

    @extend_schema(request=TerminateSerializer, responses=EmployeeMessageSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        employee = self.get_object()
        form = TerminateSerializer(data=request.data)
        if not form.is_valid():
            raise DjangoValidationError({k: list(v) for k, v in form.errors.items()})
        employee = employee_terminate(
            employee=employee,
            termination_date=form.validated_data.get("termination_date"),
            actor=request.user,
        )
        return Response(
            {"message": "Employee terminated successfully.", "employee": self.detail_data(employee)}
        )
