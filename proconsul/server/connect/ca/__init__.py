"""The Connect certificate authority: providers, leaf signing, roots, CSR limits.

Pure code: no raft, no sockets. The CA manager (leader routine) and the
ConnectCA endpoints drive it and persist what it returns.
"""

from proconsul.server.connect.ca.builtin import ConsulCAProvider, provider_state_id
from proconsul.server.connect.ca.leaf import check_leaf_identity, parse_leaf_csr, sign_leaf
from proconsul.server.connect.ca.limiter import CSRLimiter
from proconsul.server.connect.ca.provider import (
    ERR_RATE_LIMITED,
    InvalidCSR,
    Provider,
    ProviderError,
    RateLimited,
)
from proconsul.server.connect.ca.roots import (
    indexed_roots,
    new_ca_root,
    prune_roots,
    roots_pem,
    rotate_roots,
    set_leaf_signing_cert,
)
from proconsul.server.connect.ca.rotation import (
    ERR_NO_CROSS_SIGNING,
    RootUpdate,
    initial_root,
    primary_root_update,
)

__all__ = [
    "ERR_NO_CROSS_SIGNING",
    "ERR_RATE_LIMITED",
    "CSRLimiter",
    "ConsulCAProvider",
    "InvalidCSR",
    "Provider",
    "ProviderError",
    "RateLimited",
    "RootUpdate",
    "check_leaf_identity",
    "indexed_roots",
    "initial_root",
    "new_ca_root",
    "parse_leaf_csr",
    "primary_root_update",
    "provider_state_id",
    "prune_roots",
    "roots_pem",
    "rotate_roots",
    "set_leaf_signing_cert",
    "sign_leaf",
]
