"""The API's shared conventions: the OpenAPI document, offline docs, one error shape."""

import re

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(schema):
    validate(schema)
    assert schema["openapi"].startswith("3.")


def test_schema_generates_without_a_single_warning(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))
    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3")


def test_every_endpoint_is_in_the_schema_and_documents_its_problems(schema):
    paths = schema["paths"]
    for path in [
        "/api/v1/gate/",
        "/api/v1/windows/",
        "/api/v1/policies/",
        "/api/v1/policies/{id}/",
        "/api/v1/freezes/",
        "/api/v1/components/{slug}/",
    ]:
        assert path in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for code in ("400", "401", "403", "429"):
                content = responses[code]["content"]
                assert "application/problem+json" in content, (path, method, code)
            if "{" in path:
                assert "404" in responses, (path, method)
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    gate_params = {p["name"] for p in paths["/api/v1/gate/"]["get"]["parameters"]}
    assert {"component", "at"} <= gate_params


def test_docs_ui_loads_nothing_from_the_internet(client):
    response = client.get("/api/docs/")
    html = response.content.decode()
    assert "swagger-ui" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page references its script and styles"
    assert not [a for a in assets if a.startswith(("http:", "https:", "//"))]
    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset


def test_unknown_api_path_is_a_problem_not_an_html_page(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Nothing is found at /api/v1/no-such-thing/.",
    }


def test_malformed_json_is_a_problem(engineer_api):
    response = engineer_api.post("/api/v1/policies/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "urn:nightshift:problem:parse-error"
    assert "JSON parse error" in response.json()["detail"]


def test_the_api_root_lists_every_resource_that_answers(client, anon_api):
    root = anon_api.get("/api/v1/").json()
    assert root["docs"].endswith("/api/docs/") and root["schema"].endswith("/api/schema/")
    for name, resource in root["resources"].items():
        path = resource["url"].replace("http://testserver", "")
        answer = anon_api.get(path, {"component": "x"} if name in ("gate", "windows") else {})
        assert answer.status_code in (200, 400, 401), (name, answer.status_code)  # not 404
        assert resource["about"]
