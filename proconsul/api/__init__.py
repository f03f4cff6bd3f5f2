"""A Python client for Consul's HTTP API, shaped like Consul's Go ``api`` package."""

from proconsul.api.client import Client
from proconsul.api.config import Config, TLSConfig
from proconsul.api.errors import APIError, ClientError, TransportError
from proconsul.api.kv import KVPair
from proconsul.api.lock import Lock, LockOptions
from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions, next_wait_index
from proconsul.api.semaphore import Semaphore, SemaphoreOptions

__all__ = ["APIError", "Client", "ClientError", "Config", "KVPair", "Lock", "LockOptions",
           "QueryMeta", "QueryOptions", "Semaphore", "SemaphoreOptions", "TLSConfig",
           "TransportError", "WriteMeta", "WriteOptions", "next_wait_index"]
