"""Route templates, constraints, prefix handling and ASP.NET-style precedence."""

from __future__ import annotations

import pytest

from local_host.routing import (
    MethodNotAllowed,
    RouteEntry,
    RouteMatch,
    RouteTable,
    RouteTemplate,
    RouteTemplateError,
    relative_path,
)


def _table(*routes: tuple[str, frozenset[str] | None]) -> RouteTable[str]:
    return RouteTable(RouteEntry(RouteTemplate(t), m, t) for t, m in routes)


def _target(table: RouteTable[str], path: str, method: str = "GET") -> str | None:
    result = table.resolve(method, path)
    return result.entry.target if isinstance(result, RouteMatch) else None


def test_literal_template_matches_case_insensitively() -> None:
    template = RouteTemplate("/videos/latest/")
    assert template.template == "videos/latest"
    assert template.match("videos/latest") == {}
    assert template.match("Videos/LATEST") == {}
    assert template.match("videos/latest/more") is None
    assert template.match("videos") is None


def test_parameters_are_extracted() -> None:
    template = RouteTemplate("videos/{video_id}/chunks/{chunk}")
    assert template.match("videos/abc/chunks/7") == {"video_id": "abc", "chunk": "7"}
    assert template.match("videos/abc/chunks") is None
    assert template.parameter_names == ("video_id", "chunk")


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("{id:int}", "-12", "12a"),
        ("{name:alpha}", "abcXYZ", "abc1"),
        ("{key:guid}", "0f8fad5b-d9cb-469f-a165-70867728950e", "not-a-guid"),
        ("{flag:bool}", "True", "yes"),
        ("{n:min(10)}", "10", "9"),
        ("{n:range(1,3)}", "2", "4"),
        ("{s:maxlength(3)}", "abc", "abcd"),
        ("{s:length(2,3)}", "ab", "a"),
        ("{s:regex(^a+$)}", "aaa", "ab"),
        ("{d:datetime}", "2024-01-02", "yesterday"),
        ("{x:double}", "1.5", "1.5.5"),
    ],
)
def test_constraints(template: str, good: str, bad: str) -> None:
    compiled = RouteTemplate(template)
    assert compiled.match(good) is not None
    assert compiled.match(bad) is None


def test_unknown_constraint_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert RouteTemplate("{id:nonsense}").match("x") == {"id": "x"}
    assert "nonsense" in caplog.text


def test_optional_parameter_and_default() -> None:
    optional = RouteTemplate("pages/{page?}")
    assert optional.match("pages") == {}
    assert optional.match("pages/3") == {"page": "3"}
    assert optional.match("pages/3/4") is None
    defaulted = RouteTemplate("list/{page=1}")
    assert defaulted.match("list") == {"page": "1"}
    assert defaulted.match("list/5") == {"page": "5"}


def test_catch_all() -> None:
    template = RouteTemplate("files/{*path}")
    assert template.match("files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert template.match("files") == {}
    assert RouteTemplate("{**rest}").match("x/y") == {"rest": "x/y"}


def test_complex_segment() -> None:
    template = RouteTemplate("download/{name}.{ext}")
    assert template.match("download/report.final.pdf") == {"name": "report", "ext": "final.pdf"}
    assert template.match("download/report") is None


def test_escaped_braces_and_empty_template() -> None:
    assert RouteTemplate("a{{b}}").match("a{b}") == {}
    assert RouteTemplate("").match("") == {}
    assert RouteTemplate("").match("x") is None


@pytest.mark.parametrize(
    "template",
    ["{*path}/more", "a/{id?}/b", "{unclosed", "bad}", "{a}{b}", "{x}/{x}", "a//b", "{}"],
)
def test_invalid_templates(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_precedence_literal_beats_parameter_beats_catch_all() -> None:
    table = _table(
        ("files/{*path}", None),
        ("files/{name}", None),
        ("files/{id:int}", None),
        ("files/readme", None),
    )
    assert _target(table, "files/readme") == "files/readme"
    assert _target(table, "files/42") == "files/{id:int}"
    assert _target(table, "files/other") == "files/{name}"
    assert _target(table, "files/a/b") == "files/{*path}"
    assert _target(table, "files") == "files/{*path}"


def test_earlier_segments_decide_precedence() -> None:
    table = _table(("{kind}/latest", None), ("videos/{id}", None))
    assert _target(table, "videos/latest") == "videos/{id}"


def test_method_filtering_and_405() -> None:
    table = _table(("things", frozenset({"POST"})), ("things", frozenset({"GET"})))
    assert _target(table, "things", "POST") == "things"
    result = table.resolve("DELETE", "things")
    assert isinstance(result, MethodNotAllowed)
    assert result.allowed == ("GET", "POST")
    assert table.resolve("GET", "nothing") is None


def test_a_lower_precedence_route_serves_a_method_the_better_one_lacks() -> None:
    table = _table(("videos/latest", frozenset({"GET"})), ("videos/{id}", frozenset({"DELETE"})))
    assert _target(table, "videos/latest", "DELETE") == "videos/{id}"


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/api/videos", "api", "videos"),
        ("/API/videos/", "api", "videos"),
        ("/api", "api", ""),
        ("/api/", "api", ""),
        ("/apix/videos", "api", None),
        ("/other", "api", None),
        ("/videos", "", "videos"),
        ("/", "", ""),
        ("/v1/api/x", "v1/api", "x"),
    ],
)
def test_relative_path(path: str, prefix: str, expected: str | None) -> None:
    assert relative_path(path, prefix) == expected
