"""A bare Django view serving the customers list page, for benchmark comparison only.

It answers what `GET /api/customers/?page_size=50` answers for one organization (the same rows,
keys and order), with `.values()` and `JsonResponse` and none of the API's layers: no
authentication, no permission table, no filters, no serializer, no DRF. The benchmark reports
every API scenario as a ratio of this view's throughput. Its app is installed, and the view
mounted, only when `BENCH_ENDPOINTS` is true; never enable that in production (it reads any
organization's rows).
"""

from django.core.paginator import EmptyPage, InvalidPage
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from crmApp.models import Customer
from crmApp.selectors.counting import CachedCountPaginator

LIST_FIELDS = ("id", "code", "name", "email", "phone", "customer_type", "status")


def _int(raw, default: int) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return default


@require_GET
def bare_customers(request: HttpRequest) -> JsonResponse:
    organization_id = _int(request.GET.get("organization"), 0)
    page_size = min(max(_int(request.GET.get("page_size"), 25), 1), 100)
    rows = (
        Customer.objects.filter(organization_id=organization_id)
        .order_by("id")
        .values(*LIST_FIELDS, "assigned_to__first_name", "assigned_to__last_name")
    )
    try:
        page = CachedCountPaginator(rows, page_size).page(_int(request.GET.get("page"), 1))
    except (EmptyPage, InvalidPage):
        return JsonResponse({"detail": "Invalid page."}, status=404)
    results = []
    for row in page.object_list:
        first = row.pop("assigned_to__first_name")
        last = row.pop("assigned_to__last_name")
        row["assigned_to_name"] = f"{first} {last}" if first is not None else None
        results.append(row)
    return JsonResponse(
        {
            "count": page.paginator.count,
            "next": None,
            "previous": None,
            "results": results,
        }
    )
