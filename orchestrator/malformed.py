"""Requests that cannot be parsed become INVALID_ARGUMENT, not gRPC's bare UNKNOWN.

gRPC parses a request before any handler runs and answers a parse failure (e.g. a Struct
nested past protobuf's depth limit) with UNKNOWN. `add_servicer` registers a generated
servicer with request parsers that return a `Malformed` marker instead; handlers turn it
into a precise InvalidArgument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from cellwright.orchestrator.errors import InvalidArgument


@dataclass(frozen=True)
class Malformed:
    """Stands in for a request message that could not be parsed."""

    type_name: str
    problem: str

    def error(self) -> InvalidArgument:
        return InvalidArgument("request", f"not a valid {self.type_name}: {self.problem}")


def _tolerant(parse: Callable[[bytes], Any], type_name: str) -> Callable[[bytes], Any]:
    def parse_or_mark(raw: bytes) -> Any:
        try:
            return parse(raw)
        except DecodeError as exc:
            return Malformed(type_name, str(exc).rpartition(": ")[2] or str(exc))
    return parse_or_mark


class _Capture:
    """Takes what a generated `add_*_to_server` registers, instead of a server."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}

    def add_generic_rpc_handlers(self, _handlers: Any) -> None:
        pass  # the same handlers also arrive, by name, below

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        self.services[service] = handlers


def add_servicer(add_to_server: Callable[[Any, Any], None], servicer: Any, server: grpc.aio.Server) -> None:
    """Like the generated `add_XServicer_to_server(servicer, server)`, with tolerant parsing.

    The methods named in the servicer's `encoded_responses` (if any) return responses
    already encoded (bytes), which gRPC sends as they are."""
    capture = _Capture()
    add_to_server(servicer, capture)
    encoded: frozenset[str] = getattr(servicer, "encoded_responses", frozenset())
    for service, handlers in capture.services.items():
        wrapped = {name: handler._replace(
                       request_deserializer=_tolerant(handler.request_deserializer,
                                                      f"{service}.{name} request"),
                       response_serializer=None if name in encoded else handler.response_serializer)
                   for name, handler in handlers.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, wrapped),))
        server.add_registered_method_handlers(service, wrapped)
