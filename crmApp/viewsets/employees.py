from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.filters.employees import EmployeeFilterSet
from crmApp.selectors.employees import EmployeeSelector
from crmApp.serializers.actions import TerminateSerializer
from crmApp.serializers.employees import EmployeeSerializer
from crmApp.serializers.employees_nested import EmployeeListItemSerializer
from crmApp.serializers.schema import EmployeeMessageSerializer
from crmApp.services import employees as services
from crmApp.viewsets.base import OrganizationScopedViewSet

#: What `terminate` with `suspend_access` needs besides the table's `employees:update`: the same
#: right as deactivating a membership directly (`user-organization` `deactivate`).
SUSPEND_ACCESS_REQUIRES = (("organizations", "manage"),)


class EmployeeViewSet(OrganizationScopedViewSet):
    selector = EmployeeSelector()
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

    def create_record(self, data):
        return services.employee_create(actor=self.request.user, **data)

    def update_record(self, instance, data):
        return services.employee_update(employee=instance, actor=self.request.user, **data)

    def destroy_record(self, instance):
        services.employee_delete(employee=instance, actor=self.request.user)

    @extend_schema(responses={200: {"type": "array", "items": {"type": "string"}}})
    @action(detail=False, methods=["get"], pagination_class=None)
    def departments(self, request):
        return Response(self.selector.departments(self.get_queryset()))

    @extend_schema(request=TerminateSerializer, responses=EmployeeMessageSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        """End an employment; with `suspend_access`, also deactivate the linked user's
        membership, which is a membership change and so needs `organizations:manage` too."""
        employee = self.get_object()
        form = TerminateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        suspend_access = form.validated_data["suspend_access"]
        if suspend_access:
            self.check_organization_write(employee.organization_id, SUSPEND_ACCESS_REQUIRES)
        employee, suspended = services.employee_terminate(
            employee=employee,
            termination_date=form.validated_data.get("termination_date"),
            suspend_access=suspend_access,
            actor=request.user,
        )
        return Response(
            {
                "message": "Employee terminated successfully.",
                "employee": self.detail_data(employee),
                "access_suspended": suspended,
            }
        )
