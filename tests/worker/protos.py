"""Plain-Python stand-ins for the Functions host <-> worker gRPC messages.

``azure_functions_runtime`` never imports protobuf itself: the proxy worker hands it a ``protos``
namespace (``request.properties["protos"]``) and the runtime builds its responses with
``protos.<Message>(**fields)`` and reads the host's requests through attributes. This module is
that namespace, minus protobuf: every message class stores its keyword arguments as attributes,
with the proto3 default for each field the runtime reads without setting it first.

What the runtime (1.3.0) touches, found by reading its code:

* it builds ``WorkerInitResponse``, ``WorkerMetadata``, ``StatusResult`` (class constants
  ``Success``/``Failure``), ``RpcException``, ``FunctionMetadataResponse``, ``RpcFunctionMetadata``,
  ``BindingInfo`` (class constants ``out``/``inout``/``undefined``), ``RpcRetryOptions``,
  ``FunctionLoadResponse``, ``FunctionEnvironmentReloadResponse``, ``InvocationResponse``,
  ``ParameterBinding``, ``TypedData``, ``RpcHttp``, ``RpcHttpCookie`` (``SameSite`` constants) and
  the ``Nullable*`` wrappers;
* it reads ``InvocationRequest`` (``invocation_id``, ``function_id``, ``input_data``,
  ``trigger_metadata``, ``trace_context.{trace_parent,trace_state,attributes}``,
  ``retry_context.{retry_count,max_retry_count,exception}``), calls
  ``ParameterBinding.WhichOneof("rpc_data")`` and ``TypedData.WhichOneof("data")``, and reads
  ``RpcHttp.{method,url,headers,body,params,query}``.

Enum values are the ints of the real ``FunctionRpc.proto`` (e.g. ``StatusResult.Success == 1``).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar


class Message:
    """A message: keyword arguments become attributes; unknown attributes raise AttributeError.

    ``_defaults`` lists the fields a reader may access without the writer having set them (deep
    copied per instance); ``_oneofs`` maps a oneof group name to its member fields, for
    ``WhichOneof`` as in protobuf.
    """

    _defaults: ClassVar[dict[str, Any]] = {}
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, **fields: Any) -> None:
        for name, value in self._defaults.items():
            setattr(self, name, copy.deepcopy(value))
        for name, value in fields.items():
            setattr(self, name, value)
        self._set_fields = frozenset(fields)

    def WhichOneof(self, group: str) -> str | None:
        """The member of oneof ``group`` that was given a (non-None) value, else None."""
        for name in self._oneofs.get(group, ()):
            if name in self._set_fields and getattr(self, name) is not None:
                return name
        return None

    def fields(self) -> dict[str, Any]:
        """The fields (given or defaulted), for serialization."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.fields().items())
        return f"{type(self).__name__}({inner})"


# --- requests the host sends (the harness builds them) -------------------------------------------


class StreamingMessage(Message):
    """Envelope of one host message; the runtime reads ``request.request.<content>``."""


class WorkerRequest(Message):
    """What the proxy worker passes to the runtime: ``name``, ``request`` and ``properties``."""

    _defaults: ClassVar[dict[str, Any]] = {"name": "", "request": None, "properties": {}}


class WorkerInitRequest(Message):
    _defaults: ClassVar[dict[str, Any]] = {
        "host_version": "4.0.0",
        "capabilities": {},
        "log_categories": {},
        "worker_directory": "",
        "function_app_directory": "",
    }


class FunctionsMetadataRequest(Message):
    _defaults: ClassVar[dict[str, Any]] = {"function_app_directory": ""}


class FunctionLoadRequest(Message):
    _defaults: ClassVar[dict[str, Any]] = {
        "function_id": "",
        "metadata": None,
        "managed_dependency_enabled": False,
    }


class RpcTraceContext(Message):
    _defaults: ClassVar[dict[str, Any]] = {"trace_parent": "", "trace_state": "", "attributes": {}}


class RetryContext(Message):
    _defaults: ClassVar[dict[str, Any]] = {
        "retry_count": 0,
        "max_retry_count": 0,
        "exception": None,
    }


class InvocationRequest(Message):
    _defaults: ClassVar[dict[str, Any]] = {
        "invocation_id": "",
        "function_id": "",
        "input_data": [],
        "trigger_metadata": {},
        "trace_context": RpcTraceContext(),
        "retry_context": RetryContext(),
    }


class TypedData(Message):
    """One value; exactly one member of the ``data`` oneof is set (or none: an empty value)."""

    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {
        "data": (
            "string",
            "json",
            "bytes",
            "stream",
            "http",
            "int",
            "double",
            "collection_bytes",
            "collection_string",
            "collection_double",
            "collection_sint64",
            "model_binding_data",
            "collection_model_binding_data",
        )
    }


class RpcHttp(Message):
    _defaults: ClassVar[dict[str, Any]] = {
        "method": "",
        "url": "",
        "headers": {},
        "body": TypedData(),
        "params": {},
        "status_code": "",
        "query": {},
        "enable_content_negotiation": False,
        "raw_body": TypedData(),
        "identities": [],
        "cookies": [],
        "nullable_headers": {},
        "nullable_params": {},
        "nullable_query": {},
    }


class ParameterBinding(Message):
    """An input or output value: ``name`` plus ``data`` (oneof ``rpc_data``)."""

    _defaults: ClassVar[dict[str, Any]] = {"name": ""}
    _oneofs: ClassVar[dict[str, tuple[str, ...]]] = {"rpc_data": ("data", "rpc_shared_memory")}


# --- responses the runtime builds ---------------------------------------------------------------


class StatusResult(Message):
    Failure: ClassVar[int] = 0
    Success: ClassVar[int] = 1
    Cancelled: ClassVar[int] = 2
    _defaults: ClassVar[dict[str, Any]] = {"status": 0, "result": "", "exception": None, "logs": []}


class RpcException(Message):
    _defaults: ClassVar[dict[str, Any]] = {"source": "", "stack_trace": "", "message": ""}


class WorkerMetadata(Message):
    pass


class WorkerInitResponse(Message):
    _defaults: ClassVar[dict[str, Any]] = {"capabilities": {}, "worker_metadata": None}


class FunctionMetadataResponse(Message):
    pass


class BindingInfo(Message):
    """``direction`` and ``data_type`` are ints; the constants mirror the proto's nested enums."""

    class Direction:
        out: ClassVar[int] = 1
        inout: ClassVar[int] = 2

    class DataType:
        undefined: ClassVar[int] = 0
        string: ClassVar[int] = 1
        binary: ClassVar[int] = 2
        stream: ClassVar[int] = 3

    out: ClassVar[int] = 1
    inout: ClassVar[int] = 2
    undefined: ClassVar[int] = 0
    string: ClassVar[int] = 1
    binary: ClassVar[int] = 2
    stream: ClassVar[int] = 3


# ``in`` is a Python keyword: set like protobuf exposes it.
setattr(BindingInfo.Direction, "in", 0)
setattr(BindingInfo, "in", 0)


class RpcRetryOptions(Message):
    class RetryStrategy:
        exponential_backoff: ClassVar[int] = 0
        fixed_delay: ClassVar[int] = 1


class RpcFunctionMetadata(Message):
    pass


class FunctionLoadResponse(Message):
    pass


class FunctionEnvironmentReloadResponse(Message):
    pass


class InvocationResponse(Message):
    _defaults: ClassVar[dict[str, Any]] = {"output_data": [], "return_value": None}


class RpcHttpCookie(Message):
    class SameSite:
        Lax: ClassVar[int] = 1
        Strict: ClassVar[int] = 2
        ExplicitNone: ClassVar[int] = 3


setattr(RpcHttpCookie.SameSite, "None", 0)


class NullableString(Message):
    pass


class NullableBool(Message):
    pass


class NullableDouble(Message):
    pass


class NullableTimestamp(Message):
    pass
