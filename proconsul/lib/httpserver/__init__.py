"""A small, fast HTTP/1.1 server for the agent's API (parsing by httptools)."""

from proconsul.lib.httpserver.connlimit import ConnLimit
from proconsul.lib.httpserver.message import (
    EncodedResponse,
    Pending,
    Request,
    Response,
    StreamResponse,
)
from proconsul.lib.httpserver.protocol import HttpServer
from proconsul.lib.httpserver.router import MethodNotAllowed, NotFound, Resource, Router

__all__ = ["ConnLimit", "EncodedResponse", "HttpServer", "MethodNotAllowed", "NotFound", "Pending", "Request", "Resource", "Response",
           "Router", "StreamResponse"]
