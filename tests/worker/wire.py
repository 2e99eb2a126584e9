"""JSON forms of the stand-in messages, shared by the child worker process and the parent.

``TypedData`` travels as a one-key object naming the oneof member that is set::

    {"string": "text"}   {"json": "{\\"a\\": 1}"}   {"bytes": "<base64>"}   {"int": 3}
    {"double": 1.5}      {"http": {"method": ..., "url": ..., "headers": {...},
                                   "query": {...}, "params": {...}, "body": <TypedData>}}
    {}                   (nothing set)

Other values (function metadata, exceptions) are made JSON-safe by :func:`to_jsonable`.
"""

from __future__ import annotations

import base64
import enum
from datetime import timedelta
from typing import Any

from tests.worker import protos

JsonDict = dict[str, Any]

_SCALAR_KINDS = ("string", "json", "int", "double")
_HTTP_MAPS = ("headers", "query", "params")


def typed_data_from_json(data: JsonDict | None) -> protos.TypedData:
    """Build a ``TypedData`` from its JSON form (None or {} is an empty one)."""
    if not data:
        return protos.TypedData()
    if len(data) != 1:
        raise ValueError(f"TypedData JSON must have exactly one key, got {sorted(data)}")
    ((kind, value),) = data.items()
    if kind in _SCALAR_KINDS:
        return protos.TypedData(**{kind: value})
    if kind == "bytes":
        return protos.TypedData(bytes=base64.b64decode(value))
    if kind == "http":
        http: JsonDict = dict(value)
        fields: JsonDict = {name: dict(http.get(name) or {}) for name in _HTTP_MAPS}
        fields["method"] = str(http.get("method", ""))
        fields["url"] = str(http.get("url", ""))
        fields["body"] = typed_data_from_json(http.get("body"))
        return protos.TypedData(http=protos.RpcHttp(**fields))
    raise ValueError(f"unsupported TypedData kind {kind!r}")


def typed_data_to_json(data: Any) -> JsonDict | None:
    """The JSON form of a ``TypedData`` built by the runtime (None stays None)."""
    if data is None:
        return None
    kind = data.WhichOneof("data")
    if kind is None:
        return {}
    value = getattr(data, kind)
    if kind == "bytes":
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if kind == "http":
        return {
            "http": {
                "status_code": str(value.status_code),
                "headers": dict(value.headers),
                "body": typed_data_to_json(value.body),
            }
        }
    if kind in _SCALAR_KINDS:
        return {kind: value}
    return {kind: to_jsonable(value)}


def typed_data_value(data: JsonDict | None) -> Any:
    """The Python value of a TypedData JSON form: str, bytes, int, float, dict (http) or None.

    ``json`` values stay JSON text, as the runtime produced them.
    """
    if not data:
        return None
    ((kind, value),) = data.items()
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def to_jsonable(value: Any) -> Any:
    """A JSON-safe copy of ``value``: messages become dicts, bytes base64 ``{"$bytes": ...}``."""
    if isinstance(value, protos.TypedData):
        return typed_data_to_json(value)
    if isinstance(value, protos.Message):
        return {name: to_jsonable(item) for name, item in value.fields().items()}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)
