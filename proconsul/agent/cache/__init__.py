"""The agent cache for ``?cached`` reads and the types it knows."""

from proconsul.agent.cache.cache import Cache, CacheControl, CacheResult
from proconsul.agent.cache.types import (
    CacheType,
    CatalogDatacenters,
    CatalogListServices,
    CatalogServices,
    FetchResult,
    GatewayServices,
    HealthServices,
)

__all__ = ["Cache", "CacheControl", "CacheResult", "CacheType", "CatalogDatacenters",
           "CatalogListServices", "CatalogServices", "FetchResult", "GatewayServices",
           "HealthServices"]
