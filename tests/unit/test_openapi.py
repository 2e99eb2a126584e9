"""The OpenAPI document: a valid OpenAPI 3.1 shape, valid JSON Schemas, built from the same route
declarations as the functions the app registers and the generated request collections."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.decorators.http import HttpTrigger
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from services.video_rag.api.functions.openapi import OPENAPI, ROUTES, openapi_document
from services.video_rag.api.http import REQUEST_ID_HEADER, SESSION_HEADER, STATUS_BY_CODE
from services.video_rag.api.openapi import API_VERSION, SECURITY_SCHEME, build_openapi
from services.video_rag.api.routes import Operation, Reply, Route
from tests.conftest import PROJECT_ROOT
from tests.helpers import call_endpoint, registered_functions
from tools import generate_requests

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOC_URI = "https://video-rag.invalid/openapi.json"

# A structural schema of the parts of OpenAPI 3.1 this document uses, written for this test:
# the object shapes, required fields and allowed keys (the JSON Schemas inside are checked
# separately against the Draft 2020-12 metaschema).
_REF = {
    "type": "object",
    "required": ["$ref"],
    "properties": {"$ref": {"type": "string", "pattern": "^#/components/"}},
    "additionalProperties": False,
}
OPENAPI_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["openapi", "info", "paths", "components"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {
                "title": {"type": "string", "minLength": 1},
                "version": {"type": "string", "minLength": 1},
                "summary": {"type": "string"},
                "description": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "servers": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/server"}},
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "paths": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {"$ref": "#/$defs/pathItem"},
        },
        "components": {
            "type": "object",
            "properties": {
                "schemas": {"type": "object", "additionalProperties": {"type": "object"}},
                "responses": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/response"},
                },
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/parameter"},
                },
                "headers": {"type": "object", "additionalProperties": {"$ref": "#/$defs/header"}},
                "securitySchemes": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/securityScheme"},
                },
            },
            "propertyNames": {"pattern": r"^[A-Za-z]+$"},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
    "$defs": {
        "ref": _REF,
        "server": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string"},
                "description": {"type": "string"},
                "variables": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["default"],
                        "properties": {
                            "default": {"type": "string"},
                            "description": {"type": "string"},
                        },
                    },
                },
            },
            "additionalProperties": False,
        },
        "pathItem": {
            "type": "object",
            "minProperties": 1,
            "properties": {method: {"$ref": "#/$defs/operation"} for method in HTTP_METHODS},
            "additionalProperties": False,
        },
        "operation": {
            "type": "object",
            "required": ["operationId", "summary", "responses"],
            "properties": {
                "operationId": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
                "summary": {"type": "string"},
                "description": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parameters": {
                    "type": "array",
                    "items": {"anyOf": [{"$ref": "#/$defs/ref"}, {"$ref": "#/$defs/parameter"}]},
                },
                "requestBody": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {
                        "required": {"type": "boolean"},
                        "description": {"type": "string"},
                        "content": {"$ref": "#/$defs/content"},
                    },
                    "additionalProperties": False,
                },
                "security": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "responses": {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^[1-5][0-9][0-9]$"},
                    "additionalProperties": {
                        "anyOf": [{"$ref": "#/$defs/ref"}, {"$ref": "#/$defs/response"}]
                    },
                },
            },
            "additionalProperties": False,
        },
        "parameter": {
            "type": "object",
            "required": ["name", "in", "schema"],
            "properties": {
                "name": {"type": "string"},
                "in": {"enum": ["query", "header", "path", "cookie"]},
                "required": {"type": "boolean"},
                "description": {"type": "string"},
                "schema": {"type": "object"},
            },
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"], "properties": {"required": {"const": True}}},
            "additionalProperties": False,
        },
        "header": {
            "type": "object",
            "required": ["schema"],
            "properties": {
                "description": {"type": "string"},
                "required": {"type": "boolean"},
                "schema": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "content": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-z]+/[a-z0-9.+-]+$"},
            "additionalProperties": {
                "type": "object",
                "required": ["schema"],
                "properties": {
                    "schema": {"type": "object"},
                    "examples": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "required": ["value"],
                            "properties": {"summary": {"type": "string"}, "value": True},
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
        "response": {
            "type": "object",
            "required": ["description"],
            "properties": {
                "description": {"type": "string"},
                "headers": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [{"$ref": "#/$defs/ref"}, {"$ref": "#/$defs/header"}]
                    },
                },
                "content": {"$ref": "#/$defs/content"},
            },
            "additionalProperties": False,
        },
        "securityScheme": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]},
                "description": {"type": "string"},
                "name": {"type": "string"},
                "in": {"enum": ["query", "header", "cookie"]},
            },
            "if": {"properties": {"type": {"const": "apiKey"}}},
            "then": {"required": ["name", "in"]},
        },
    },
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """`node`, or what its local `$ref` points to."""
    while isinstance(node, dict) and "$ref" in node:
        node = pointer(doc, node["$ref"])
    return node


def pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schemas_in(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON Schema in the document, with where it is."""
    components = doc["components"]
    for name, schema in components["schemas"].items():
        yield f"components.schemas.{name}", schema
    for name, header in components["headers"].items():
        yield f"components.headers.{name}", header["schema"]
    for name, parameter in components["parameters"].items():
        yield f"components.parameters.{name}", parameter["schema"]
    for name, response in components["responses"].items():
        for media, content in response.get("content", {}).items():
            yield f"components.responses.{name}.{media}", content["schema"]
    for path, method, operation in operations(doc):
        where = f"{method.upper()} {path}"
        for parameter in operation.get("parameters", []):
            if "schema" in parameter:
                yield f"{where} parameter {parameter['name']}", parameter["schema"]
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            yield f"{where} request {media}", content["schema"]
        for status, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                yield f"{where} {status} {media}", content["schema"]


def validator_for(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of `schema` (a schema inside `doc`), its `#/components/...` references resolved
    in `doc`."""
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(doc))
    return Draft202012Validator(absolute_refs(schema), registry=registry)


def absolute_refs(node: Any) -> Any:
    """A copy of `node` whose document-local `$ref`s point into the registered document."""
    if isinstance(node, dict):
        return {
            key: DOC_URI + value
            if key == "$ref" and value.startswith("#")
            else absolute_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [absolute_refs(value) for value in node]
    return node


def test_the_document_has_the_shape_of_openapi_3_1(doc: dict[str, Any]) -> None:
    errors = sorted(Draft202012Validator(OPENAPI_SHAPE).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    assert doc["openapi"] == "3.1.0"
    # Relative: it resolves against wherever the document is served (…/api/openapi.json).
    assert doc["servers"] == [{"url": "/api", "description": doc["servers"][0]["description"]}]


def test_every_schema_is_a_valid_draft_2020_12_schema(doc: dict[str, Any]) -> None:
    checked = 0
    for where, schema in schemas_in(doc):
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:
            pytest.fail(f"{where}: {exc}")
        checked += 1
    assert checked > len(doc["components"]["schemas"])


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    refs = set(walk(doc))
    assert refs
    for ref in refs:
        pointer(doc, ref)  # raises KeyError when dangling


def test_operation_ids_tags_security_and_path_parameters_are_consistent(
    doc: dict[str, Any],
) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(doc)]
    assert len(ids) == len(set(ids))
    tags = {tag["name"] for tag in doc["tags"]}
    schemes = set(doc["components"]["securitySchemes"])
    for path, method, operation in operations(doc):
        assert set(operation["tags"]) <= tags, (method, path)
        for requirement in operation["security"]:
            assert set(requirement) <= schemes, (method, path)
        declared = {
            p["name"]
            for p in map(lambda p: resolve(doc, p), operation["parameters"])
            if p["in"] == "path"
        }
        assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)


def test_the_session_header_is_an_api_key_scheme_applied_per_operation(
    doc: dict[str, Any],
) -> None:
    assert doc["components"]["securitySchemes"][SECURITY_SCHEME] == {
        "type": "apiKey",
        "in": "header",
        "name": SESSION_HEADER,
        "description": doc["components"]["securitySchemes"][SECURITY_SCHEME]["description"],
    }
    assert "security" not in doc
    security = {
        (method.upper(), path): operation["security"] for path, method, operation in operations(doc)
    }
    required: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]
    for route in ("/sessions/current", "/videos", "/chat/messages"):
        assert security[("GET", route)] == required
    assert security[("POST", "/chat")] == required
    assert security[("DELETE", "/videos/{video_id}")] == required
    # Optional there: a header parameter, so that generated clients create the first session
    # without credentials (they read `[{}, {scheme}]` as "needs an authenticated client").
    assert security[("POST", "/sessions")] == []
    parameters = [resolve(doc, p) for p in doc["paths"]["/sessions"]["post"]["parameters"]]
    assert {"name": SESSION_HEADER, "in": "header", "required": False} in [
        {k: p[k] for k in ("name", "in", "required")} for p in parameters
    ]
    for route in ("/health", "/openapi.json", "/getvideos", "/getchatmessagehistory"):
        assert security[("GET", route)] == []


def test_every_response_declares_x_request_id_and_a_429_declares_retry_after(
    doc: dict[str, Any],
) -> None:
    for path, method, operation in operations(doc):
        for status, reference in operation["responses"].items():
            response = resolve(doc, reference)
            headers = {name: resolve(doc, h) for name, h in response["headers"].items()}
            assert headers[REQUEST_ID_HEADER]["required"] is True, (method, path, status)
            if status == "429":
                assert "Retry-After" in headers
            if status == "204":
                assert "content" not in response


def test_every_error_response_is_a_plain_reference_to_the_one_error_schema(
    doc: dict[str, Any],
) -> None:
    """Generators make one class of a plain `$ref`; an `allOf` narrowing per status made one per
    status and operation (286 model files)."""
    body = doc["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "request_id"}
    assert set(body["properties"]) == {"code", "message", "request_id", "details"}
    code = body["properties"]["code"]
    assert code["type"] == "string"
    assert "enum" not in code  # a client generated today must accept a code added tomorrow
    assert all(f"`{name}`" in code["description"] for name in STATUS_BY_CODE)
    responses = doc["components"]["responses"]
    assert len(responses) == len(set(STATUS_BY_CODE.values()))
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for response in responses.values():
        assert response["content"]["application/json"]["schema"] == error_ref
    for status in set(STATUS_BY_CODE.values()):
        (response,) = [r for r in responses.values() if _status_of(r) == status]
        codes = sorted(c for c, s in STATUS_BY_CODE.items() if s == status)
        last_line = response["description"].splitlines()[-1]
        assert last_line == "Codes: " + ", ".join(f"`{c}`" for c in codes) + ".", status
        examples = response["content"]["application/json"]["examples"]
        assert sorted(e["value"]["error"]["code"] for e in examples.values()) == codes
    chat = doc["paths"]["/chat"]["post"]["responses"]
    assert {"400", "401", "404", "409", "413", "429", "500", "502", "503", "504"} <= set(chat)
    for path, method, operation in operations(doc):
        for status, response in operation["responses"].items():
            if status[0] in "45" and (method, path, status) != ("get", "/health", "503"):
                assert set(response) == {"$ref"}, (method, path, status)
                assert response["$ref"].startswith("#/components/responses/")


def _status_of(response: dict[str, Any]) -> int:
    """The status of an error response component, from its examples' codes."""
    examples = response["content"]["application/json"]["examples"]
    (status,) = {STATUS_BY_CODE[e["value"]["error"]["code"]] for e in examples.values()}
    return status


def test_response_examples_are_valid_responses(doc: dict[str, Any]) -> None:
    """Every JSON response with a body shows an example, valid against its schema."""
    count = 0
    places = [
        (f"{method} {path} {status}", resolve(doc, response))
        for path, method, operation in operations(doc)
        for status, response in operation["responses"].items()
    ]
    places += [(f"components {name}", r) for name, r in doc["components"]["responses"].items()]
    for where, response in places:
        content = response.get("content", {}).get("application/json")
        if content is None:
            continue
        if where.startswith("get /openapi.json"):
            continue  # the document itself
        assert content.get("examples"), where
        validator = validator_for(doc, content["schema"])
        for name, example in content["examples"].items():
            errors = list(validator.iter_errors(example["value"]))
            assert not errors, (where, name, [e.message for e in errors])
            count += 1
    assert count >= 30


def test_post_videos_is_one_object_of_optional_lists_with_one_of_them_required(
    doc: dict[str, Any],
) -> None:
    """One model for generators (no `anyOf` of alternative objects), every field optional, and
    'at least one of urls and transcripts non-empty' said in the description and the schema."""
    schema = doc["components"]["schemas"]["AddVideosRequest"]
    assert schema["type"] == "object"
    assert not {"anyOf", "oneOf", "allOf"} & set(schema)
    assert set(schema["properties"]) == {"urls", "transcripts", "languages"}
    assert not schema.get("required")
    assert "at least one of `urls` and `transcripts` must be non-empty" in " ".join(
        schema["description"].split()
    )
    validator = validator_for(doc, schema)
    upload = {"format": "text", "content": "Hello."}
    assert validator.is_valid({"urls": ["GJLlxj_dtq8"]})
    assert validator.is_valid({"transcripts": [upload], "languages": ["en"]})
    assert validator.is_valid({"urls": ["GJLlxj_dtq8"], "transcripts": [upload]})
    invalid: list[dict[str, Any]] = [
        {},
        {"languages": ["en"]},
        {"urls": [], "transcripts": []},
        {"urls": []},
    ]
    for body in invalid:
        assert not validator.is_valid(body), body
    description = " ".join(doc["paths"]["/videos"]["post"]["description"].split())
    assert "at least one of `urls` and `transcripts` non-empty" in description


def test_optional_request_fields_carry_no_default_that_makes_them_look_required(
    doc: dict[str, Any],
) -> None:
    """openapi-typescript declares a field with a default as always present: a request's
    optional fields have none (absent means "not given")."""
    for name in ("AddVideosRequest", "ChatRequest", "TranscriptUploadIn", "CreateSessionRequest"):
        schema = doc["components"]["schemas"][name]
        required = set(schema.get("required", ()))
        for field, prop in schema["properties"].items():
            if field not in required:
                assert "default" not in prop, (name, field)


def test_legacy_get_routes_document_the_query_form_only(doc: dict[str, Any]) -> None:
    for path in ("/getvideos", "/getchatmessagehistory"):
        operation = doc["paths"][path]["get"]
        assert "requestBody" not in operation, path
        (session,) = [
            resolve(doc, p) for p in operation["parameters"] if resolve(doc, p)["in"] == "query"
        ]
        assert session["name"] == "session_id"
        assert "JSON body" in operation["description"]


def test_shared_parameters_are_components(doc: dict[str, Any]) -> None:
    parameters = doc["components"]["parameters"]
    assert {"RequestId", "VideoIdPath", "LimitQuery", "SessionIdQuery", "XSessionIdHeader"} <= set(
        parameters
    )
    for path, method, operation in operations(doc):
        for parameter in operation["parameters"]:
            assert set(parameter) == {"$ref"}, (method, path, parameter)
    legacy = [
        operation
        for _, _, operation in operations(doc)
        if {"$ref": "#/components/parameters/SessionIdQuery"} in operation["parameters"]
    ]
    assert len(legacy) == 5


def test_request_examples_are_valid_requests(doc: dict[str, Any]) -> None:
    count = 0
    for path, method, operation in operations(doc):
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        for name, example in (content or {}).get("examples", {}).items():
            errors = list(validator_for(doc, content["schema"]).iter_errors(example["value"]))
            assert not errors, (method, path, name, [e.message for e in errors])
            count += 1
    assert count >= 8


def test_query_parameters_come_from_the_query_models(doc: dict[str, Any]) -> None:
    parameters = [resolve(doc, p) for p in doc["paths"]["/chat/messages"]["get"]["parameters"]]
    (limit,) = [p for p in parameters if p.get("name") == "limit"]
    assert limit == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000},
    }


def test_every_http_function_the_app_registers_is_a_documented_route() -> None:
    registered = {
        (name, "/" + str(function.get_trigger().route))
        for name, function in registered_functions().items()
        if isinstance(function.get_trigger(), HttpTrigger)
    }
    assert registered == {(route.function, route.path) for route in ROUTES}


def _toy(path: str, *operations: Operation) -> Route:
    return Route("toy", path, "meta", *operations)


def _get(operation_id: str, **extra: Any) -> Operation:
    return Operation("GET", lambda req: None, operation_id, "toy", (Reply(204, "none"),), **extra)


@pytest.mark.parametrize(
    ("routes", "problem"),
    [
        ([_toy("/a", _get("a"), _get("b"))], "GET /a twice"),
        ([_toy("/a", _get("a")), _toy("/b", _get("a"))], "GET /b twice"),
        ([_toy("/a/{x}", _get("a"))], "path parameters do not match /a/{x}"),
        ([_toy("/a", _get("a", path_parameters={"x": str}))], "do not match /a"),
    ],
)
def test_an_inconsistent_declaration_is_refused_when_the_document_is_built(
    routes: list[Route], problem: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        build_openapi(routes)


def test_the_document_is_built_once_per_process() -> None:
    assert openapi_document() is openapi_document()


def test_info_version_is_the_project_version(doc: dict[str, Any]) -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert doc["info"]["version"] == API_VERSION == pyproject["project"]["version"]


def test_importing_the_module_builds_nothing_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import services.video_rag.api.functions.openapi as openapi\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'langchain_core', 'openai', 'youtube_transcript_api'))\n"
        "assert not heavy, heavy\n"
        "assert openapi.openapi_document.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


def test_the_openapi_function_serves_the_document(doc: dict[str, Any]) -> None:
    from services.video_rag.bootstrap import Dependencies, set_dependencies
    from services.video_rag.settings import load_settings

    endpoint = OPENAPI.endpoint
    assert endpoint.allowed_methods == ("GET",)  # type: ignore[attr-defined]
    set_dependencies(Dependencies(settings=load_settings({})))
    try:
        request = func.HttpRequest("GET", "http://localhost:7071/api/openapi.json", body=b"")
        response = call_endpoint(endpoint, request)
        wrong = call_endpoint(
            endpoint, func.HttpRequest("POST", "http://localhost/api/openapi.json", body=b"")
        )
    finally:
        set_dependencies(None)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(response.get_body()) == doc
    assert wrong.status_code == 405


# --- Request collections -----------------------------------------------------------------------


def test_the_request_collections_are_in_sync() -> None:
    assert generate_requests.differences() == [], "run python -m tools.generate_requests"


def test_check_reports_stale_files(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert generate_requests.main(["--check", "--root", root]) == 1
    assert generate_requests.main(["--root", root]) == 0
    assert generate_requests.main(["--check", "--root", root]) == 0
    stale = tmp_path / generate_requests.HTTP_FILE
    stale.write_text(stale.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert generate_requests.differences(tmp_path) == [generate_requests.HTTP_FILE.as_posix()]
    assert generate_requests.main(["--check", "--root", root]) == 1


def test_the_postman_collection_captures_the_session_id() -> None:
    collection = json.loads(
        (PROJECT_ROOT / generate_requests.POSTMAN_FILE).read_text(encoding="utf-8")
    )
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    assert {"key": "baseUrl", "value": "http://localhost:7071/api", "type": "string"} in collection[
        "variable"
    ]
    walk = collection["item"][0]["item"]
    create = walk[1]
    assert create["request"]["url"]["path"] == ["sessions"]
    script = "\n".join(create["event"][0]["script"]["exec"])
    assert 'pm.collectionVariables.set("session_id", pm.response.json().session_id)' in script
    later = [
        h for item in walk[2:] for h in item["request"]["header"] if h["key"] == "X-Session-Id"
    ]
    assert later
    assert all(h["value"] == "{{session_id}}" for h in later)


def test_the_http_file_names_the_session_request_and_reuses_its_id() -> None:
    text = (PROJECT_ROOT / generate_requests.HTTP_FILE).read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "\n@baseUrl = http://localhost:7071/api\n" in text
    assert "# @name createSession\nPOST {{baseUrl}}/sessions\n" in text
    assert "X-Session-Id: {{createSession.response.body.$.session_id}}" in text
