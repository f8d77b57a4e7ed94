"""`/api/reports/<name>/`: each report as JSON, or as CSV with `?format=csv`.

Reports read the organizations where the caller holds `reports:view`, narrowed by
`X-Organization-ID` or `?organization=` like every list; without a narrowing a member of
several organizations gets their figures together (as the deal stats do). The query is parsed by
the report's filter serializer (a bad date, an unknown parameter, a foreign pipeline or owner
are a 400 in the envelope), the figures come from `crmApp.selectors.reports`, and CSV is a flat
table of the same figures with spreadsheet-formula cells neutralised by the export's helper.
"""

from collections.abc import Callable, Iterable

from django.http import Http404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from crmApp.csv_export import csv_lines
from crmApp.permissions import required_permissions
from crmApp.selectors import reports
from crmApp.serializers import reports as forms
from crmApp.viewsets.base import OrganizationScopedMixin

Table = tuple[list[str], Iterable[list]]


class ReportCSVRenderer(renderers.BaseRenderer):
    """Renders a report's `Table` (header, rows) as CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        header, rows = data
        return "".join(csv_lines(header, rows)).encode(self.charset)


def funnel_table(data: dict) -> Table:
    header = ["pipeline_id", "pipeline_name", "stage_id", "stage_name", "order", "reached"]
    header.append("conversion")
    rows = [
        [p["id"], p["name"], s["id"], s["name"], s["order"], s["reached"], s["conversion"]]
        for p in data["pipelines"]
        for s in p["stages"]
    ]
    return header, rows


def time_in_stage_table(data: dict) -> Table:
    header = ["pipeline_id", "pipeline_name", "stage_id", "stage_name", "deals", "count"]
    header += ["average_days", "median_days", "p90_days"]
    rows = [
        [s["pipeline_id"], s["pipeline_name"], s["stage_id"], s["stage_name"], kind]
        + [s[f"{kind}_deals"][key] for key in ("count", "average_days", "median_days", "p90_days")]
        for s in data["stages"]
        for kind in ("open", "closed")
    ]
    return header, rows


def win_rate_table(data: dict) -> Table:
    header = ["dimension", "key", "label", "won", "lost", "closed", "win_rate"]

    def tally(row: dict) -> list:
        return [row["won"], row["lost"], row["closed"], row["win_rate"]]

    rows = [["total", "", "", *tally(data["total"])]]
    rows += [[data["group_by"], r["period"], r["period"], *tally(r)] for r in data["by_period"]]
    rows += [["owner", r["owner_id"], r["owner_name"], *tally(r)] for r in data["by_owner"]]
    rows += [["source", r["source"], r["source"], *tally(r)] for r in data["by_source"]]
    return header, rows


def velocity_table(data: dict) -> Table:
    return ["metric", "value"], [[key, value] for key, value in data.items()]


def forecast_table(data: dict) -> Table:
    header = ["month", "deals", "best_case", "weighted"]
    rows = [[m["month"], m["deals"], m["best_case"], m["weighted"]] for m in data["months"]]
    total = data["total"]
    rows.append(["total", total["deals"], total["best_case"], total["weighted"]])
    won = data["closed_won"]
    rows.append(["closed_won", won["deals"], won["value"], won["value"]])
    return header, rows


def lead_sources_table(data: dict) -> Table:
    header = ["source", "label", "leads", "conversions", "conversion_rate"]
    keys = ("source", "label", "leads", "conversions", "conversion_rate")
    rows = [[row[key] for key in keys] for row in data["sources"]]
    total = data["total"]
    rows.append(["total", "", total["leads"], total["conversions"], total["conversion_rate"]])
    return header, rows


TABLES: dict[str, Callable[[dict], Table]] = {
    "funnel": funnel_table,
    "time_in_stage": time_in_stage_table,
    "win_rate": win_rate_table,
    "velocity": velocity_table,
    "forecast": forecast_table,
    "lead_sources": lead_sources_table,
}


def _documented(shape, filters, summary: str):
    return extend_schema(
        summary=summary,
        parameters=[filters],
        responses={
            (200, "application/json"): shape,
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="The same figures as a header row and rows."
            ),
        },
    )


class ReportViewSet(OrganizationScopedMixin, viewsets.ViewSet):
    """Read-only reports; routed one by one (crmApp.urls), there is no list or detail."""

    renderer_classes = [renderers.JSONRenderer, ReportCSVRenderer]

    def read_permissions(self):
        return required_permissions(self.basename, self.action) or (("__none__", "view"),)

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:  # DRF's answer to a `format` no renderer has
            raise exceptions.ValidationError({"format": ['Use "json" or "csv".']}) from None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(
            getattr(response, "accepted_renderer", None), ReportCSVRenderer
        ):
            # Errors always leave in the JSON envelope, whatever format was asked for.
            response.accepted_renderer = renderers.JSONRenderer()
            response.accepted_media_type = "application/json"
        return response

    def _report(self, name: str, form_class) -> Response:
        form = form_class(
            data=self.request.query_params,
            context={"organization_ids": self.readable_organization_ids()},
        )
        form.is_valid(raise_exception=True)
        data = reports.run(name, form.filters())
        if getattr(self.request.accepted_renderer, "format", None) == "csv":
            response = Response(TABLES[name](data))
            filename = name.replace("_", "-")
            response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
            return response
        return Response(data)

    @_documented(forms.FunnelReportSerializer, forms.ReportFilterSerializer, "Sales funnel")
    @action(detail=False, methods=["get"])
    def funnel(self, request):
        return self._report("funnel", forms.ReportFilterSerializer)

    @_documented(forms.TimeInStageReportSerializer, forms.ReportFilterSerializer, "Time in stage")
    @action(detail=False, methods=["get"], url_path="time-in-stage")
    def time_in_stage(self, request):
        return self._report("time_in_stage", forms.ReportFilterSerializer)

    @_documented(forms.WinRateReportSerializer, forms.WinRateFilterSerializer, "Win rate")
    @action(detail=False, methods=["get"], url_path="win-rate")
    def win_rate(self, request):
        return self._report("win_rate", forms.WinRateFilterSerializer)

    @_documented(forms.VelocityReportSerializer, forms.ReportFilterSerializer, "Sales velocity")
    @action(detail=False, methods=["get"])
    def velocity(self, request):
        return self._report("velocity", forms.ReportFilterSerializer)

    @_documented(forms.ForecastReportSerializer, forms.ReportFilterSerializer, "Forecast")
    @action(detail=False, methods=["get"])
    def forecast(self, request):
        return self._report("forecast", forms.ReportFilterSerializer)

    @_documented(forms.LeadSourceReportSerializer, forms.LeadSourceFilterSerializer, "Lead sources")
    @action(detail=False, methods=["get"], url_path="lead-sources")
    def lead_sources(self, request):
        return self._report("lead_sources", forms.LeadSourceFilterSerializer)


def report_urls() -> list:
    """One route per report (`reports/funnel/` ...), named `report-<name>`."""
    routes = []
    for name in reports.REPORTS:
        method = getattr(ReportViewSet, name)
        view = ReportViewSet.as_view({"get": name}, basename="report", detail=False)
        routes.append(path(f"reports/{method.url_path}/", view, name=f"report-{method.url_path}"))
    return routes
