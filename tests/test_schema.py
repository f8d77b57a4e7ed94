"""The OpenAPI schema: generated without warnings, served as YAML and JSON, documented offline."""

import json
import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

EXTERNAL_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}""")
ASSET_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.fixture(scope="module")
def openapi() -> dict:
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS, "schema generation emitted warnings or errors"
    return json.loads(json.dumps(generated, default=str))


def operation(openapi: dict, method: str, path: str) -> dict:
    return openapi["paths"][path][method]


def json_schema(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def test_spectacular_command_validates_with_no_warning(tmp_path):
    # given a clean warning counter
    GENERATOR_STATS.reset()
    target = tmp_path / "schema.yml"

    # when the schema is generated with the strictest flags (it raises on any warning)
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    # then it was written and is an OpenAPI 3 document
    document = yaml.safe_load(target.read_text())
    assert document["openapi"].startswith("3.")
    assert not GENERATOR_STATS


def test_generated_schema_is_valid_openapi(openapi):
    validate_schema(openapi)
    assert openapi["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_schema_endpoint_serves_yaml_by_default(api_client, db):
    response = api_client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document = yaml.safe_load(response.content)
    assert document["info"]["title"] == "CRM API"
    assert "/api/customers/" in document["paths"]


def test_schema_endpoint_serves_json_on_request(api_client, db):
    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    document = json.loads(response.content)
    assert "/api/deals/{id}/move_stage/" in document["paths"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_reference_only_local_static_assets(api_client, db, page):
    # when the documentation page is loaded
    response = api_client.get(page)

    # then it is HTML without any absolute (CDN) URL
    assert response.status_code == 200
    html = response.content.decode()
    assert EXTERNAL_URL.findall(html) == []
    # and every asset it references is a static file shipped with the project's packages
    assets = ASSET_URL.findall(html)
    assert assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")) is not None, asset
    assert "/api/schema/" in html


def test_every_operation_documents_the_error_envelope(openapi):
    for path, operations in openapi["paths"].items():
        for method, spec in operations.items():
            for code in ("400", "401", "403", "404", "405", "409", "429"):
                assert json_schema(spec["responses"][code]) == {
                    "$ref": "#/components/schemas/ErrorEnvelope"
                }, (method, path, code)
            if method in ("post", "put", "patch"):
                assert "413" in spec["responses"], (method, path)
                assert "415" in spec["responses"], (method, path)


def test_lists_are_paginated_and_list_like_actions_are_bare(openapi):
    customers = json_schema(operation(openapi, "get", "/api/customers/")["responses"]["200"])
    page = openapi["components"]["schemas"][customers["$ref"].rsplit("/", 1)[1]]
    assert sorted(page["properties"]) == ["count", "next", "previous", "results"]
    assert page["properties"]["results"]["items"] == {"$ref": "#/components/schemas/CustomerList"}

    for path, item in [
        ("/api/organizations/my_organizations/", {"$ref": "#/components/schemas/Organization"}),
        ("/api/organizations/{id}/members/", {"$ref": "#/components/schemas/Membership"}),
        ("/api/user-roles/my_roles/", {"$ref": "#/components/schemas/UserRole"}),
        ("/api/employees/departments/", {"type": "string"}),
    ]:
        body = json_schema(operation(openapi, "get", path)["responses"]["200"])
        assert body["type"] == "array", path
        assert body["items"] == item, path
        parameters = {p["name"] for p in operation(openapi, "get", path).get("parameters", [])}
        assert not parameters & {"page", "page_size"}, path

    by_resource = json_schema(
        operation(openapi, "get", "/api/permissions/by_resource/")["responses"]["200"]
    )
    assert by_resource["type"] == "object"
    assert by_resource["additionalProperties"]["type"] == "array"


def test_actions_document_their_own_bodies_and_answers(openapi):
    def ref(method: str, path: str, code: str = "200") -> str:
        return json_schema(operation(openapi, method, path)["responses"][code])["$ref"]

    def request_ref(method: str, path: str) -> str:
        body = operation(openapi, method, path)["requestBody"]
        return body["content"]["application/json"]["schema"]["$ref"]

    assert ref("post", "/api/customers/{id}/activate/").endswith("/CustomerMessage")
    assert ref("post", "/api/leads/{id}/convert/", "201").endswith("/LeadConverted")
    assert ref("post", "/api/deals/{id}/move_stage/").endswith("/DealMessage")
    assert request_ref("post", "/api/deals/{id}/move_stage/").endswith("/StageIdRequest")
    assert ref("get", "/api/deals/stats/").endswith("/DealStats")
    assert ref("post", "/api/auth/login/").endswith("/LoginResponse")
    assert ref("post", "/api/auth/refresh/").endswith("/TokenPair")
    assert ref("post", "/api/organizations/", "201").endswith("/Organization")
    assert request_ref("post", "/api/customers/bulk_delete/").endswith("/BulkDeleteRequest")
    assert request_ref("post", "/api/leads/bulk_update/").endswith("/LeadBulkUpdateRequest")
    lead_data = openapi["components"]["schemas"]["LeadBulkUpdateDataRequest"]
    assert sorted(lead_data["properties"]) == sorted(
        ["status", "qualification_status", "source", "assigned_to_id", "lead_score", "tags"]
    )
    assert "requestBody" not in operation(openapi, "post", "/api/deals/{id}/mark_won/")


def test_csv_export_and_deletes_are_described(openapi):
    export = operation(openapi, "get", "/api/deals/export_csv/")
    assert export["responses"]["200"]["content"] == {"text/csv": {"schema": {"type": "string"}}}
    filters = {p["name"] for p in export["parameters"]}
    assert {"status", "search", "ordering", "organization"} <= filters

    delete = operation(openapi, "delete", "/api/customers/{id}/")
    assert "content" not in delete["responses"]["204"]


def test_scoped_operations_take_the_organization_selection(openapi):
    def parameters(method: str, path: str) -> dict:
        found = operation(openapi, method, path).get("parameters", [])
        return {(p["in"], p["name"]) for p in found}

    assert ("header", "X-Organization-ID") in parameters("post", "/api/customers/")
    assert ("query", "organization") in parameters("get", "/api/customers/")
    assert ("query", "organization") in parameters("get", "/api/leads/stats/")
    assert ("header", "X-Organization-ID") not in parameters("get", "/api/users/me/")
    assert ("query", "organization") not in parameters("get", "/api/user-roles/my_roles/")


#: Sources a docs page may load from: its own origin, inline data, and nonces.
LOCAL_SOURCES = re.compile(
    r"^(?:'self'|'none'|'unsafe-inline'|'nonce-[A-Za-z0-9_-]+'|data:|blob:)$"
)
#: A URL the bundle itself would fetch: an image, script or style source written in the code.
FETCHED_IN_JS = re.compile(r"""(?:src|href|url)\s*[:=(]\s*["']((?:https?:)?//[^"']+)["']""")


def _policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_redoc_and_the_scripts_it_loads_fetch_nothing_from_another_origin(api_client, db):
    # given the Redoc page
    response = api_client.get("/api/redoc/")
    html = response.content.decode()
    assert EXTERNAL_URL.findall(html) == []

    # the bundle it loads does reference a CDN (its footer logo) ...
    scripts = [a for a in ASSET_URL.findall(html) if a.endswith(".js")]
    assert scripts == ["/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"]
    fetched = []
    for script in scripts:
        with open(finders.find(script.removeprefix("/static/"))) as bundle:
            fetched += FETCHED_IN_JS.findall(bundle.read())
    assert "https://cdn.redoc.ly/redoc/logo-mini.svg" in fetched

    # ... which the page's policy forbids: every kind of fetch is limited to local sources
    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        for source in policy[directive]:
            assert LOCAL_SOURCES.match(source), (directive, source)

    # and the inline script that starts Redoc (with its options) is the one the nonce allows
    (nonce,) = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    assert f'<script nonce="{nonce[7:-1]}">' in html
    options = html.split(f'<script nonce="{nonce[7:-1]}">', 1)[1].split("</script>", 1)[0]
    assert EXTERNAL_URL.findall(options) == []


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>")


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_every_docs_page_is_under_a_policy_that_forbids_other_origins(api_client, db, page):
    response = api_client.get(page)
    html = response.content.decode()

    # no URL outside the site in the page, nor in what its inline scripts configure
    assert EXTERNAL_URL.findall(html) == []
    assert re.findall(r"https?://", html) == []
    # a policy limiting every kind of fetch to this origin
    policy = _policy(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "img-src", "font-src", "connect-src"):
        for source in policy[directive]:
            assert LOCAL_SOURCES.match(source), (directive, source)
    # and every inline script is the one the nonce allows
    (nonce,) = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    inline = INLINE_SCRIPT.findall(html)
    assert inline == [f' nonce="{nonce[7:-1]}"']


def test_swagger_ui_asks_no_online_validator(api_client, db):
    html = api_client.get("/api/docs/").content.decode()

    # Swagger UI's default would load a badge from its public validator
    assert '"validatorUrl": null' in html
    bundle = finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    with open(bundle) as script:
        assert "validator.swagger.io" in script.read()


def test_each_response_gets_its_own_nonce(api_client, db):
    first = _policy(api_client.get("/api/redoc/")["Content-Security-Policy"])["script-src"]
    second = _policy(api_client.get("/api/redoc/")["Content-Security-Policy"])["script-src"]
    assert first != second


def _operations(openapi: dict):
    for path, operations in openapi["paths"].items():
        for method, spec in operations.items():
            yield method, path, spec


def test_every_operation_has_a_summary_a_description_and_a_tag(openapi):
    incomplete = []
    for method, path, spec in _operations(openapi):
        summary = spec.get("summary", "")
        what, _, permission = spec.get("description", "").partition("**Permission:**")
        what = what.strip()
        if (
            not summary
            or len(what) < 40  # says what the operation does, not just a name
            or what.rstrip(".") == summary
            or not permission.strip()
            or not spec.get("tags")
        ):
            incomplete.append((method, path, summary, what))
    assert incomplete == []


def test_descriptions_say_who_may_call_and_what_can_go_wrong(openapi):
    def description(method: str, path: str) -> str:
        return operation(openapi, method, path)["description"]

    assert description("post", "/api/deals/{id}/mark_won/").endswith(
        "**Permission:** `deals:update` in the organization concerned (`deals:manage` implies "
        "it; the owner holds every permission). Without it: 403."
    )
    assert "a lost deal must be reopened first (400)" in description(
        "post", "/api/deals/{id}/mark_won/"
    )
    convert = description("post", "/api/leads/{id}/convert/")
    assert "`leads:update` and `customers:create`" in convert
    assert "`customers:manage` or `leads:manage` implies it" in convert
    assert description("post", "/api/auth/login/").endswith(
        "**Permission:** none; no token needed."
    )
    assert description("delete", "/api/organizations/{id}/").endswith(
        "**Permission:** the organization's owner only."
    )
    assert description("get", "/api/organizations/my_organizations/").endswith(
        "**Permission:** any logged-in user; it reads or changes only your own data."
    )
    assert "409 unless `move_to`" in description("delete", "/api/pipeline-stages/{id}/")
    assert description("get", "/api/customers/").startswith("Lists customers, paginated")
    # the invitations' rule names manage itself: nothing "implies" it
    assert description("get", "/api/invitations/").endswith(
        "**Permission:** `organizations:manage` in the organization concerned (the owner holds "
        "every permission). Without it: 403."
    )
    # a base class's docstring (written for developers) is never an operation's description
    for _method, _path, spec in _operations(openapi):
        assert "transaction; roll back" not in spec["description"]
        assert "selector" not in spec["description"]


def test_no_developer_docstring_reaches_the_published_schema(openapi):
    # object components carry no description taken from a serializer's docstring ...
    described = [
        name
        for name, component in openapi["components"]["schemas"].items()
        if "properties" in component and "description" in component
    ]
    assert described == []
    # ... enums keep the generated list of their choices
    assert (
        "`individual` - Individual"
        in (openapi["components"]["schemas"]["CustomerTypeEnum"]["description"])
    )
    # and nothing written for the code's developers is left anywhere in the document
    text = json.dumps(openapi)
    for phrase in ("ModelSerializer", "viewset", "selector", "services do", "queryset"):
        assert phrase not in text, phrase


def test_every_operation_has_a_summary(openapi):
    missing = [
        (method, path)
        for path, operations in openapi["paths"].items()
        for method, spec in operations.items()
        if not spec.get("summary")
    ]
    assert missing == []
    summaries = {
        (method, path): spec["summary"]
        for path, operations in openapi["paths"].items()
        for method, spec in operations.items()
    }
    assert summaries[("get", "/api/customers/")] == "List customers"
    assert summaries[("post", "/api/employees/")] == "Create an employee"
    assert summaries[("post", "/api/deals/{id}/move_stage/")] == "Move a deal to another stage"
    assert summaries[("delete", "/api/pipeline-stages/{id}/")] == "Delete a pipeline stage"
    assert summaries[("get", "/api/health/ready/")] == "Readiness probe"
    assert summaries[("get", "/api/auth/refresh-tokens/{id}/")] == "Retrieve a login session"
    assert summaries[("post", "/api/leads/{id}/convert/")] == "Convert a lead into a customer"
    assert summaries[("post", "/api/auth/login/")] == "Log in"
