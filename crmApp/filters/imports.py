"""Import job list filters."""

import django_filters

from crmApp.filters.base import StrictFilterSet
from crmApp.models import ImportJob


class ImportJobFilterSet(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=ImportJob.Status.choices)
    resource = django_filters.ChoiceFilter(choices=ImportJob.Resource.choices)

    class Meta:
        model = ImportJob
        fields = ["status", "resource"]
