"""The import validates many rows with one form (`batch_form_class`); each row's result must be
exactly what the resource's own form gives it, one new form per row, errors included."""

import pytest

from crmApp.importing import ImportCaller, _Batches, batch_form_class, error_text
from crmApp.models import ImportJob, Lead
from crmApp.permissions import resolve_access
from crmApp.serializers.imports import IMPORT_FORMS
from tests.factories import CustomerFactory, EmployeeFactory, LeadFactory

pytestmark = pytest.mark.django_db

LEAD_ROWS = [
    {"name": "Ada", "email": "ada@example.com"},
    {"name": "Bob", "email": "not-an-email", "lead_score": "x"},
    {"name": "", "email": "c@example.com"},
    {"email": "missing-name@example.com"},
    {"name": "N" * 300, "estimated_value": "-5", "lead_score": "101"},
    {"email": "x@example.com", "name": "Tags", "tags": [f"t{i}" for i in range(60)]},
    {"email": "x@example.com", "name": "Tag", "tags": ["x" * 51]},
    {"email": "x@example.com", "name": "Conv", "qualification_status": "converted"},
    {"email": "x@example.com", "name": "Status", "status": "lost"},
    {"email": "x@example.com", "name": "Choice", "source": "nowhere"},
    {"email": "x@example.com", "name": "Ext", "external_id": "taken"},
    {"email": "x@example.com", "name": "Ext blank", "external_id": "   "},
    {"email": "x@example.com", "name": "Zip", "zip_code": "1" * 30, "estimated_value": "12.345"},
    {"email": "x@example.com", "name": "Nul\x00", "notes": "=HYPERLINK()"},
    {"email": "x@example.com", "name": "Assignee", "assigned_to_id": "FOREIGN"},
    {"email": "x@example.com", "name": "Assignee", "assigned_to_id": "OWN"},
    {"email": "x@example.com", "name": "Assignee", "assigned_to_id": "999999"},
    {"email": "x@example.com", "name": "Org", "organization": "999999"},
]
CUSTOMER_ROWS = [
    {"name": "Ada", "email": "ada@example.com"},
    {"name": "", "email": "bad"},
    {"name": "Ext", "external_id": "taken"},
    {"name": "Credit", "credit_limit": "-1", "customer_type": "nope"},
]


def resolved(rows, org, other_org):
    own, foreign = EmployeeFactory(organization=org), EmployeeFactory(organization=other_org)
    names = {"OWN": str(own.pk), "FOREIGN": str(foreign.pk)}
    return [
        {k: names.get(v, v) if isinstance(v, str) else v for k, v in row.items()} for row in rows
    ]


def outcome(validate):
    try:
        values = dict(validate())
    except Exception as exc:  # noqa: BLE001 - the kind and text of any refusal are compared
        detail = getattr(exc, "detail", None)
        return ("refused", type(exc).__name__, error_text(detail) if detail else str(exc))
    return ("valid", {k: getattr(v, "pk", v) for k, v in values.items()})


@pytest.mark.parametrize(("resource", "rows"), [("leads", LEAD_ROWS), ("customers", CUSTOMER_ROWS)])
@pytest.mark.parametrize("updating", [False, True], ids=["create", "update"])
def test_one_form_for_many_rows_answers_like_a_form_per_row(
    owner, org, other_org, resource, rows, updating
):
    job = ImportJob(organization=org, created_by=owner.user, resource=resource, mapping={})
    batches = _Batches(job, ImportCaller(job, resolve_access(owner.user)))
    form_class = IMPORT_FORMS[resource]
    model = form_class.Meta.model
    if model is Lead:
        LeadFactory(organization=org, external_id="taken")
        instance = LeadFactory(organization=org, external_id="mine") if updating else None
    else:
        CustomerFactory(organization=org, external_id="taken")
        instance = CustomerFactory(organization=org, external_id="mine") if updating else None
    assert type(batches.form_for(instance)).__mro__[1].__name__ == "_ManyRows"

    for data in resolved(rows, org, other_org) * 2:  # twice: the shared form keeps no state
        shared = batches.form_for(instance)

        def one_form_per_row(data=data):
            form = form_class(
                instance, data=data, partial=instance is not None, context=batches.context
            )
            return form.run_validation(data)

        assert outcome(lambda data=data, shared=shared: shared.run_validation(data)) == outcome(
            one_form_per_row
        ), data


def test_batch_form_classes_are_made_once_and_keep_the_fields():
    for form_class in IMPORT_FORMS.values():
        batch_class = batch_form_class(form_class)
        assert batch_form_class(form_class) is batch_class
        assert issubclass(batch_class, form_class)
        assert list(batch_class().fields) == list(form_class().fields)
