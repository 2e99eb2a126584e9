"""Random JSON thrown at every route and method, with and without a live session: integers of
any size, deep nesting, any code point (lone surrogates included) in keys and values. Whatever
arrives, the answer is never a 5xx, and it is always the JSON contract."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.video_rag.bootstrap import Dependencies
from tests.helpers import body_of, http_functions_by_route, invoke

pytestmark = [pytest.mark.db]

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**4000, max_value=10**4400)  # past Python's 4,300-digit limit
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["message", "session_id", "urls", "transcripts", "video_ids", "x"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def encode(value: Any, depth: int) -> bytes:
    """`value` as JSON (lone surrogates kept as \\u escapes), wrapped in `depth` arrays."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # writing huge integers; the app reads with the default limit
    try:
        text = json.dumps(value, ensure_ascii=True)
    finally:
        sys.set_int_max_str_digits(limit)
    return ("[" * depth + text + "]" * depth).encode("ascii")


ROUTES = sorted(
    (route, method)
    for route, function in http_functions_by_route().items()
    for method in function.get_user_function().allowed_methods
)


@settings(
    max_examples=int(os.environ.get("RANDOM_JSON_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(ROUTES),
    value=JSON_VALUES,
    depth=st.sampled_from([0, 0, 0, 1, 40, 990]),
    with_session=st.booleans(),
)
def test_no_json_gets_a_5xx(
    deps: Dependencies, route: tuple[str, str], value: Any, depth: int, with_session: bool
) -> None:
    path, method = route
    headers = {"Content-Type": "application/json"}
    if with_session:
        headers["X-Session-Id"] = body_of(invoke("POST", "sessions"))["session_id"]
    response = invoke(
        method,
        path,
        body=encode(value, depth),
        headers=headers,
        params={"session_id": "x", "limit": "3"},
        route_params={"video_id": "anyvideo"},
    )
    assert response.status_code < 500, (path, method, response.get_body()[:300])
    if response.status_code >= 400:
        error = body_of(response)["error"]
        assert set(error) - {"details"} == {"code", "message", "request_id"}
