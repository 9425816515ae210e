"""The OpenAPI document is the contract: it must list exactly the routes the app serves,
every reference in it must resolve, and real answers must fit its schemas (the API client
in conftest checks every answer of every API test; here the document itself)."""

from __future__ import annotations

from tests.api.conftest import API, FEED_URL, add_messages, documented_path, make_run
from tests.api.schema import all_refs, errors, resolve
from webapp.api.openapi import DOCUMENT

IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def registered_routes(app) -> set[tuple[str, str]]:
    return {
        (documented_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/")
        for method in rule.methods - IGNORED_METHODS
    }


def documented_routes(document: dict) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_documented_routes_equal_registered_routes(app):
    assert documented_routes(DOCUMENT) == registered_routes(app)


def test_served_document_is_the_module_document(anonymous):
    response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == DOCUMENT
    assert response.get_json()["openapi"].startswith("3.1")


def test_every_reference_resolves_and_every_operation_is_complete():
    for ref in all_refs(DOCUMENT):
        resolve(DOCUMENT, {"$ref": ref})
    operation_ids = []
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            operation_ids.append(operation["operationId"])
            assert operation["summary"] and operation["responses"], (path, method)
            public = operation.get("security") == []
            statuses = set(operation["responses"])
            if not public:
                assert {"401", "429"} <= statuses, (path, method)
            if path.startswith("/admin/"):
                assert "403" in statuses, (path, method)
            path_params = {p.strip("{}") for p in path.split("/") if p.startswith("{")}
            declared = {
                resolve(DOCUMENT, p)["name"]
                for p in operation.get("parameters", [])
                if resolve(DOCUMENT, p)["in"] == "path"
            }
            assert declared == path_params, (path, method)
            if method == "post":
                body = operation["requestBody"]["content"]
                assert {"application/json", "multipart/form-data"} <= set(body)
                assert "409" in statuses and "413" in statuses and "400" in statuses
    assert len(operation_ids) == len(set(operation_ids))
    assert DOCUMENT["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert DOCUMENT["security"] == [{"bearerAuth": []}]


def schema_of(path: str, method: str, status: int) -> dict:
    response = resolve(DOCUMENT, DOCUMENT["paths"][path][method]["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def test_real_answers_validate_against_the_documented_schemas(app, admin, shop, store):
    """Explicit checks on top of the client's automatic ones, with raw responses."""
    run = make_run(store, shop.user, status="completed_with_errors", phase=None)
    add_messages(run, (2, "error", "missing_title"), (None, "warning", "validation_error"))
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {admin.token}"}
    cases = [
        ("get", "/store/marketplace/imports/{job_id}", f"/store/marketplace/imports/{run.id}", 200),
        ("get", "/store/marketplace/imports", "/store/marketplace/imports", 200),
        (
            "get",
            "/store/marketplace/imports/{job_id}/errors",
            f"/store/marketplace/imports/{run.id}/errors",
            200,
        ),
        (
            "get",
            "/admin/marketplace-import-jobs/stats",
            "/admin/marketplace-import-jobs/stats",
            200,
        ),
        ("get", "/admin/marketplace-import-jobs", "/admin/marketplace-import-jobs", 200),
        ("get", "/store/marketplace/imports/{job_id}", "/store/marketplace/imports/999999", 404),
    ]
    for method, template, path, status in cases:
        response = client.open(API + path, method=method.upper(), headers=bearer)
        assert response.status_code == status, path
        assert errors(DOCUMENT, schema_of(template, method, status), response.get_json()) == []

    started = client.post(
        API + "/admin/marketplace-import-jobs",
        json={"store_id": store.id, "source_url": FEED_URL},
        headers=bearer,
    )
    schema = schema_of("/admin/marketplace-import-jobs", "post", 202)
    assert errors(DOCUMENT, schema, started.get_json()) == []

    unauthorized = client.get(API + "/store/marketplace/imports")
    assert (
        errors(
            DOCUMENT, schema_of("/store/marketplace/imports", "get", 401), unauthorized.get_json()
        )
        == []
    )


def test_the_checker_catches_drift():
    """The checker itself: an extra field, a missing one, a wrong type are all reported."""
    job_schema = {"$ref": "#/components/schemas/Job"}
    assert errors(DOCUMENT, job_schema, {"id": 1}) != []
    stats = {k: 0 for k in DOCUMENT["components"]["schemas"]["Stats"]["required"]}
    assert errors(DOCUMENT, {"$ref": "#/components/schemas/Stats"}, stats) == []
    assert errors(DOCUMENT, {"$ref": "#/components/schemas/Stats"}, {**stats, "x": 1}) != []
    assert errors(DOCUMENT, {"$ref": "#/components/schemas/Stats"}, {**stats, "total": "0"}) != []
    missing = dict(stats)
    del missing["active"]
    assert errors(DOCUMENT, {"$ref": "#/components/schemas/Stats"}, missing) != []
