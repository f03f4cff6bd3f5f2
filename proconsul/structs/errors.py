"""Errors that cross layers, each with the HTTP status Consul gives it."""

from __future__ import annotations

import re


class ConsulError(Exception):
    """An error whose message is shown to the client verbatim, as one line."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ConsulError):
    """The request itself is wrong (400)."""

    status = 400


class Unauthorized(ConsulError):
    """ACL endpoints while ACLs are disabled (401)."""

    status = 401


class NotFound(ConsulError):
    """The named object does not exist (404)."""

    status = 404


class Forbidden(ConsulError):
    """An ACL refused the request (403)."""

    status = 403


class TooLarge(ConsulError):
    """The request body or value is over a limit (413)."""

    status = 413


class TooManyRequests(ConsulError):
    """A server's RPC rate limit refused the request (429)."""

    status = 429


ERR_NO_PATH_TO_DC = "No path to datacenter"
ERR_NO_LEADER = "No cluster leader"
ERR_DC_NOT_AVAILABLE = "Remote DC has no server currently reachable"
ERR_ACL_DISABLED = "ACL support disabled"
ERR_CONFLICTING_CONSISTENCY = "Cannot specify ?stale with ?consistent, conflicting semantics."
ERR_SERVER_LEAVING = "Server is leaving the cluster"
ERR_NO_SERVERS = "No known Consul servers"


# Errors cross the server RPC as text only.  These are the texts (matched at
# the start) whose class is not a plain 500: Consul's own ACL and rate-limit
# errors, and what Proconsul's endpoints and state store raise as BadRequest.
_REMOTE_ERROR_CLASSES: list[tuple[re.Pattern[str], type[ConsulError]]] = [
    (re.compile(r".*(Permission denied|ACL not found)"), Forbidden),
    # peering: a used or replaced establishment secret (server/endpoints/peering.py)
    (re.compile(r"(a new peering token must be generated: )?invalid peering establishment "
                r"secret$"), Forbidden),
    (re.compile(r".*RPC rate limit exceeded"), TooManyRequests),
    (re.compile(r"Rate limit reached, try again later"), TooManyRequests),
    (re.compile("|".join([
        r"Must provide ",
        r"Missing (node registration|service registration|session$|check ')",
        r"Invalid (KVS operation|service address|session operation|Behavior setting|Session TTL"
        r"|state: )",
        r"invalid (coordinate$|session \"|LastContactThreshold: |ServerStabilizationTime: )",
        r"Session TTL '.*' invalid: ",
        r"Check '.*' is in \w+ state$",
        r"check node \".*\" does not match node ",
        r'node ID ".*" for node ".*" aliases existing node ',
        r'(id|address) ".*" was not found in the Raft configuration$',
        r"Failed to create boolean expression evaluator: ",
        r"Coordinate update rate limit exceeded",
        r"Transaction contains too many operations ",
        # config entries, intentions and discovery chains refused by the leader
        r"invalid config entry kind: ", r"Missing config entry$",
        r'discovery chain ".*" uses ', r"detected circular (resolver redirect|reference): ",
        r'service ".*" (does not have a subset named|has an external SNI set)',
        r"sameness group missing for service ", r"Sources\[\d+\]",
        r"Cannot (modify|delete) non-existent intention: ",
        r"Cannot modify DestinationNS or DestinationName ",
        r"ID must be empty when creating a new intention$",
        r"cannot use legacy intention API to edit ", r"Invalid Intention operation: ",
        r"(\d+ errors occurred: )?(SourceNS|SourceName|DestinationNS|DestinationName|Action"
        r"|Description|Meta|Permissions|SourceType) ",
        # a service refused for its kind (structs/service_kinds)
        r"\d+ errors? occurred:\n\t\* (Port |Proxy\.|A |The Proxy\.|upstreams )",
        # Connect CA: a bad CSR or CA configuration (server/connect/ca, structs/connect).
        r"(CSR |SPIFFE ID |invalid CSR: |first PEM-block should be |error parsing CSR: "
        r"|no PEM-encoded data found)",
        r"(root cert TTL |leaf cert TTL |Intermediate Cert TTL |EC key length |RSA key length "
        r"|private key type must |must provide a private key |error decoding config: "
        r"|unknown CA provider |The current CA Provider does not support cross-signing"
        r"|Provider State is read-only)",
        # ACL objects refused by the endpoint or the leader (server/acl/validate.py, state/acl.py)
        r"Invalid (Token|Policy|Role|Auth Method|Binding Rule): ", r"invalid Binding Rule: ",
        r"No such (ACL )?(policy|role|auth method) with ", r"Token Expiration TTL ",
        r"ExpirationTime (cannot|must) ", r"Changing (a token's SecretID|the (Rules|Datacenters)) ",
        r"Cannot (toggle local mode|change (expiration time|AuthMethod)|clone a token|find token) ",
        r"Cannot specify the ID ", r"Delete operation not permitted ",
        r"Deletion of the request's authorization token ", r"(Service|Node) identity ",
        r"validation error for templated policy", r"AuthMethod field is disallowed ",
        r"Failed to parse ACL rules", r"Invalid [a-z]+ policy: ", r"(Policy|Role|Binding Rule) ID invalid UUID$",
        r"cannot find (policy|role|binding rule) ", r"the (Type|AuthMethod) field is immutable",
        r"MaxTokenTTL ", r"BootstrapSecret must be ", r"Accessor ID is missing ",
        r"failed inserting acl binding rule: ", r"Missing (token|policy|role|binding rule|auth "
        r"method) ",
        # peering requests and tokens refused (server/peering/validate.py, endpoints/peering.py)
        r".* is not a valid peer name: ", r"meta tags failed validation: ",
        r"failed to decode peering token", r"peering token (CA|server|peer ID) value is ",
        r".* is not a valid peering server address$", r"cannot create a peering within ",
        r"cannot create peering with name: ", r"failed to write peering: ",
        r"peering must be enabled to use this endpoint$",
        r"connect\.enabled must be set to true in the server's configuration when generating",
        r"TLS for gRPC must be enabled when generating peering tokens$",
        # snapshot restore: a damaged or foreign archive (server/snapshot, lib/snapshot_archive)
        r"(failed to read snapshot file: |failed checking integrity of snapshot: "
        r"|failed to decode snapshot metadata: |unexpected file \".*\" in snapshot"
        r"|snapshot file \".*\" is too large|stale not allowed for restore"
        r"|invalid snapshot state: )",
    ])), BadRequest),
    # prepared queries refused by the leader, or not there
    (re.compile(r"Query not found$"), NotFound),
    (re.compile(r"(Invalid prepared query: |ID must be empty when creating a new prepared query"
                r"|Cannot modify non-existent prepared query: |Unknown prepared query operation: "
                r"|name '.*' aliases an existing query (name|ID)$"
                r"|a query template with an empty name already exists$|failed compiling template: "
                r"|prepared query templates can only be resolved |Bad evaluation for '"
                r"|Missing query ID$|Missing prepared query$)"), BadRequest),
]


def remote_error_class(text: str) -> type[ConsulError]:
    """The class of an error a server answered with ``text``."""
    for pattern, cls in _REMOTE_ERROR_CLASSES:
        if pattern.match(text):
            return cls
    return ConsulError
