"""Strict list filtering: unknown parameters, bad values and unknown ordering terms are a 400.

Set once in `REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"]`; each resource declares one FilterSet,
`search_fields`, `ordering_fields` and optional `ordering_aliases` (public name -> model path).
"""

import copy
import datetime
from functools import lru_cache

import django_filters
from django import forms
from django_filters import utils
from django_filters.filterset import FilterSetMetaclass
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter

#: Query parameters every list understands besides its FilterSet's own.
COMMON_PARAMS = frozenset(
    {"page", "page_size", "cursor", "search", "ordering", "format", "organization"}
)
MAX_SEARCH_LENGTH = 200


class StrictBooleanField(forms.Field):
    TRUE = {"true", "1"}
    FALSE = {"false", "0"}

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Must be one of true, false, 1, 0.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    """`true/false/1/0` (any case); anything else is a 400; empty means no filter."""

    field_class = StrictBooleanField


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
class IdFilter(django_filters.NumberFilter):
    """An exact integer id; junk and out-of-range values are a 400, not a 500."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class UTCDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC before it reaches the database.

    PostgreSQL refuses offsets beyond ±15:59 that Python accepts (a 500 otherwise), and a
    conversion past year 1 or 9999 overflows: both are a 400 here.
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError("Date-time out of range.", code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """A date-time bound compared in UTC (see UTCDateTimeField)."""

    field_class = UTCDateTimeField


class FilterTemplates(dict):
    """A FilterSet's `base_filters`, copied for each request filter by filter, not deeply.

    django-filter deep-copies every filter (its options, querysets and form field kwargs) for
    each FilterSet instance: 0.2 ms of a filtered deal list. A filter's own state per request is
    only its `model` and `parent`, set on the copy; its options are read, never changed.
    """

    def __deepcopy__(self, memo):
        copies = {}
        for name, template in self.items():
            clone = copy.copy(template)
            if template.method is not None:
                clone.method = template.method  # binds the method proxy to the clone
            copies[name] = clone
        return copies


class FormFieldTemplates(dict):
    """A filter form class's `base_fields`, copied for each form field by field, not deeply.

    Django deep-copies every field of a form (its widget, validators and choices) for each
    instance: about a third of a filtered list's filtering. The form only cleans the query
    string; cleaning reads a field's options and never changes them, and the form is never
    rendered, so a shallow copy of each field is as safe here.
    """

    def __deepcopy__(self, memo):
        return {name: copy.copy(field) for name, field in self.items()}


class StrictFilterSetMetaclass(FilterSetMetaclass):
    def __new__(mcs, name, bases, attrs):
        new_class = super().__new__(mcs, name, bases, attrs)
        new_class.base_filters = FilterTemplates(new_class.base_filters)
        return new_class


class StrictFilterSet(django_filters.FilterSet, metaclass=StrictFilterSetMetaclass):
    """A FilterSet built cheaply per request: its form class once per FilterSet class, its
    filters copied shallowly (FilterTemplates).

    django-filter rebuilds the form class (every filter's form field) for each request: ~0.5 ms
    of a filtered list. Our filters do not depend on the request (no per-request querysets), so
    the class is reused; Django still copies its fields into each form instance.
    """

    def get_form_class(self):
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = FormFieldTemplates(form_class.base_fields)
            type(self)._form_class = form_class
        return form_class


class StrictFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) not in {"list", *getattr(view, "filter_actions", ())}:
            return queryset
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(COMMON_PARAMS)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        named = frozenset(request.query_params) - COMMON_PARAMS
        if not named or filterset_class is None:
            # No filter named: the FilterSet would apply nothing; skip building its form
            # (~1 ms of CPU per list request, bench/RESULTS.md).
            return queryset
        narrowed = narrowed_filterset(filterset_class, named)
        filterset = narrowed(**self.get_filterset_kwargs(request, queryset, view))
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset.qs


@lru_cache(maxsize=256)
def narrowed_filterset(filterset_class: type[StrictFilterSet], named: frozenset[str]):
    """`filterset_class` with only the filters the query string names, built once per set.

    A filter that is not named cleans to an empty value, and django-filter applies nothing
    for one, so leaving it out changes neither the rows nor the errors; it saves copying,
    binding and cleaning every other filter of the set on each request (a deal list by stage
    built and cleaned thirteen).
    """
    narrowed = type(filterset_class.__name__, (filterset_class,), {"__module__": __name__})
    narrowed.base_filters = FilterTemplates(
        {name: f for name, f in filterset_class.base_filters.items() if name in named}
    )
    return narrowed


class WholeTextSearchFilter(SearchFilter):
    """Case-insensitive substring match of the whole search text over any search field."""

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        value = value.replace("\x00", "").strip()
        if len(value) > MAX_SEARCH_LENGTH:
            raise ValidationError({"search": [f"At most {MAX_SEARCH_LENGTH} characters."]})
        return [value] if value else []

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) not in {"list", *getattr(view, "filter_actions", ())}:
            return queryset
        return super().filter_queryset(request, queryset, view)


class StrictOrderingFilter(OrderingFilter):
    """Public field names (plus `ordering_aliases`); an unknown term is a 400; `id` breaks ties."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if not raw:
            return self.get_default_ordering(view)
        allowed = set(getattr(view, "ordering_fields", None) or ())
        aliases = getattr(view, "ordering_aliases", {})
        ordering, unknown = [], []
        for term in (part.strip() for part in raw.split(",")):
            if not term:
                continue
            descending = term.startswith("-")
            name = term.lstrip("-")
            name = aliases.get(name, name)
            if name not in allowed:
                unknown.append(term)
                continue
            ordering.append(f"-{name}" if descending else name)
        if unknown:
            raise ValidationError(
                {"ordering": [f"Unknown ordering field: {term}." for term in unknown]}
            )
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            ordering.append("id")
        return ordering

    def filter_queryset(self, request, queryset, view):
        if getattr(view, "action", None) not in {"list", *getattr(view, "filter_actions", ())}:
            return queryset
        return super().filter_queryset(request, queryset, view)
