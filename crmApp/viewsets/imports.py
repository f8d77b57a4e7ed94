"""`/api/imports/`: CSV import jobs (customers, leads) run by background workers.

`POST` stores the file, checks its format and the mapping, and answers 202 with the job; the
`imports` queue does the work (crmApp/importing.py). The job, its progress and its refused rows
are visible to its organization only.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from crmApp.csv_export import csv_download
from crmApp.filters.imports import ImportJobFilterSet
from crmApp.import_tasks import import_job_plan
from crmApp.models import ImportJob
from crmApp.selectors.imports import ImportJobSelector, import_errors
from crmApp.serializers.imports import ImportJobSerializer, ImportUploadSerializer
from crmApp.services import imports as services
from crmApp.tasks import enqueue
from crmApp.viewsets.base import OrganizationScopedMixin


class ImportJobViewSet(
    OrganizationScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    selector = ImportJobSelector()
    serializer_class = ImportJobSerializer
    filterset_class = ImportJobFilterSet
    ordering_fields = ["id", "created_at", "status"]
    search_fields = ["file_name"]

    def get_parsers(self):
        # Called before DRF sets `action`: the route's method map says which action this is.
        method = getattr(getattr(self, "request", None), "method", "").lower()
        if getattr(self, "action_map", {}).get(method) == "create":
            return [MultiPartParser()]
        return super().get_parsers()

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={202: ImportJobSerializer},
    )
    def create(self, request, *args, **kwargs):
        form = ImportUploadSerializer(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        organization = data.pop("organization", None)
        organization_id = organization.pk if organization is not None else None
        if organization_id is None:
            organization_id = self.default_organization_id()
        if organization_id is None:
            raise exceptions.ValidationError({"organization": ["This field is required."]})
        self.check_organization_write(organization_id)
        resource = data["resource"]
        target = ((resource, "create"),)
        if data["mode"] == ImportJob.Mode.UPSERT:
            target += ((resource, "update"),)
        self.check_organization_write(organization_id, target)
        job = services.import_job_create(
            organization_id=organization_id, actor=request.user, **data
        )
        enqueue(import_job_plan, job.pk, queue="imports")
        job.refresh_from_db()
        return Response(self.serialize_detail(job), status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=ImportJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.import_job_cancel(job=self.get_object(), actor=request.user)
        return Response(self.serialize_detail(job))

    @extend_schema(
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="`row`, `reason`, then the file's columns: one line per refused row.",
            )
        }
    )
    @action(detail=True, methods=["get"])
    def errors(self, request, pk=None):
        job = self.get_object()
        columns = list(job.columns)
        rows = (
            [number, reason, *(values.get(column, "") for column in columns)]
            for number, reason, values in import_errors(job)
        )
        return csv_download(
            ["row", "reason", *columns], rows, filename=f"import_{job.pk}_errors.csv"
        )
