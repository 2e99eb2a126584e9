"""A harness that runs the real Azure Functions Python worker runtime (``azure_functions_runtime``,
what Azure runs for Python 3.13 apps) with no .NET host, so tests can index an app and serve HTTP
(including HTTP streams) exactly as in Azure. See :mod:`tests.worker.harness`."""

from tests.worker.harness import (
    INVOCATION_HEADER,
    BindingMeta,
    FunctionMeta,
    InvocationResult,
    RealWorker,
    RouteNotFoundError,
    WorkerError,
)

__all__ = [
    "INVOCATION_HEADER",
    "BindingMeta",
    "FunctionMeta",
    "InvocationResult",
    "RealWorker",
    "RouteNotFoundError",
    "WorkerError",
]
