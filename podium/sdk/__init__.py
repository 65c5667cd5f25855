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
    setting, computed, Paginate, Incremental,    values from the house's settings, paging,
    ChildRequest                                 incremental sync, per-record requests (rest.py)
    CURSOR_FORMATS                               cursor formats by name        (cursors.py)
    rest_connector                               a whole REST connector as a dict (declarative.py)
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
from podium.sdk.cursors import CURSOR_FORMATS
from podium.sdk.declarative import rest_connector
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
from podium.sdk.rest import (
    ChildRequest,
    Incremental,
    Paginate,
    RestConnector,
    RestStream,
    computed,
    setting,
)
from podium.sdk.retry import retrying

__all__ = [
    "AUTH_MAP", "CURSOR_FORMATS", "DEFAULT_ERROR_TABLE", "PAGINATOR_MAP", "ApiKeyQueryAuth", "BasicAuth",
    "BearerAuth", "ChildRequest", "Connector", "CursorPaginator", "ErrorAction", "ErrorRule", "HmacAuth",
    "HttpClient", "Incremental", "JsonNextLinkPaginator", "LinkHeaderPaginator", "OAuth2ClientCredentials",
    "OffsetPaginator", "Page", "PageNumberPaginator", "Paginate", "Paginator", "RateLimiter",
    "RestConnector", "RestStream", "StreamSpec", "SyncContext", "computed", "rest_connector", "retrying",
    "setting",
]
