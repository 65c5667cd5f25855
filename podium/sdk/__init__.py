"""Connector SDK: a connector declares what it reads; these shared pieces do how.

Public surface (import from here)::

    Connector, StreamSpec, Page, SyncContext     the connector contract      (connector.py)
    HttpClient                                   session, auth, retry, limits (http.py)
    *Auth, AUTH_MAP                              auth kinds                    (auth.py)
    *Paginator, PAGINATOR_MAP                    paging kinds                  (paginators.py)
    ErrorAction, DEFAULT_ERROR_TABLE             one table: retry/fail/limit   (error_table.py)
    retrying                                     the tenacity retry factory    (retry.py)
    RateLimiter                                  per-connector request budget  (ratelimit.py)
    RestStream, RestConnector                    declarative REST streams      (rest.py)
"""

from podium.sdk.auth import (
    AUTH_MAP,
    ApiKeyQueryAuth,
    BasicAuth,
    BearerAuth,
    HmacAuth,
    OAuth2ClientCredentials,
)
from podium.sdk.connector import Connector, Page, StreamSpec, SyncContext
from podium.sdk.error_table import DEFAULT_ERROR_TABLE, ErrorAction, ErrorRule
from podium.sdk.http import HttpClient
from podium.sdk.paginators import (
    PAGINATOR_MAP,
    CursorPaginator,
    JsonNextLinkPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
)
from podium.sdk.ratelimit import RateLimiter
from podium.sdk.rest import RestConnector, RestStream
from podium.sdk.retry import retrying

__all__ = [
    "AUTH_MAP", "DEFAULT_ERROR_TABLE", "PAGINATOR_MAP", "ApiKeyQueryAuth", "BasicAuth", "BearerAuth",
    "Connector", "CursorPaginator", "ErrorAction", "ErrorRule", "HmacAuth", "HttpClient",
    "JsonNextLinkPaginator", "LinkHeaderPaginator", "OAuth2ClientCredentials", "OffsetPaginator", "Page",
    "PageNumberPaginator", "Paginator", "RateLimiter", "RestConnector", "RestStream", "StreamSpec",
    "SyncContext", "retrying",
]
