"""SOAP plumbing for the Recreatex WebShop service.

zeep builds each request envelope from the WSDL shipped in this package (the endpoint address is
the house's ``base_url``); the shared SDK pieces send it: a pooled ``requests`` session with
timeouts, the tenacity retry factory, the error table and the rate limiter. zeep runs with
``raw_response=True``: the response bytes go, unparsed by zeep, to the shared safe XML decoder,
so a live sync, the raw archive and ``podium map`` on a saved response share one parse path.

A SOAP 1.1 fault always arrives as HTTP 500, so the status alone cannot decide retry vs fail:
``judge`` reads the fault first (safely) and only then falls back to the error table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import zeep
from tenacity import Retrying
from zeep.transports import Transport

from podium.errors import AuthError, BadDataError, ConfigError, VendorDownError
from podium.parsing import safe_iterparse
from podium.sdk.error_table import ErrorAction, ErrorRule, is_transport_fault, rule_for, transport_failure
from podium.sdk.http import DEFAULT_TIMEOUT, new_session, safe_url
from podium.sdk.ratelimit import RateLimiter
from podium.sdk.retry import RetryableError, parse_retry_after, retrying
from podium.secrets import redact, safe_text

log = logging.getLogger("podium.recreatex")
T = TypeVar("T")

NAMESPACE = "http://www.recreatex.be/webshop/v3.8/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_PATH = Path(__file__).parent / "wsdl" / "WebShop.wsdl"
BINDING = f"{{{NAMESPACE}}}BasicHttpBinding_IWebShop"
ENDPOINT_PATH = "WebShop.svc"

ZEEP_SETTINGS = zeep.Settings(
    strict=False,  # tolerate what real WCF services add beyond the reconstructed WSDL
    raw_response=True,  # responses are decoded by podium.parsing, not by zeep
    forbid_dtd=True, forbid_entities=True, forbid_external=True, xml_huge_tree=False,
)


def endpoint_url(base_url: str) -> str:
    """The service address: ``base_url`` itself when it names a ``.svc``, else ``base_url/WebShop.svc``."""
    base = base_url.strip().rstrip("/")
    return base if base.lower().endswith(".svc") else f"{base}/{ENDPOINT_PATH}"


class QuietTransport(Transport):  # type: ignore[misc]
    """A zeep transport on our session that never logs envelopes (they carry the ShopId)."""

    def __init__(self, session: requests.Session, timeout: float | tuple[float, float]) -> None:
        super().__init__(session=session, operation_timeout=timeout)

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        return self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)

    def load(self, url: str) -> bytes:
        if url.startswith(("http://", "https://")):
            raise ConfigError("the Recreatex WSDL is shipped with the connector; remote schema loads are refused")
        return super().load(url)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SoapFault:
    """A SOAP 1.1 fault: the local part of ``faultcode`` and the ``faultstring``."""

    code: str
    message: str


def parse_fault(body: bytes) -> SoapFault | None:
    """The fault in a response body, or None (the body is parsed with the safe XML parser)."""
    if b"Fault" not in body:
        return None
    try:
        for element in safe_iterparse(body, ("Fault",)):
            values: dict[str, str] = {}
            for child in element:
                if isinstance(child.tag, str):
                    name = child.tag.rpartition("}")[2]
                    values[name] = " ".join("".join(child.itertext()).split())
            return SoapFault(values.get("faultcode", "").rpartition(":")[2], values.get("faultstring", ""))
    except BadDataError:
        return None
    return None


def fault_rule(fault: SoapFault) -> ErrorRule:
    """What a fault means: a refused ShopId is an auth error, other client faults config, server faults retry."""
    said = safe_text(fault.message, 300)
    if "shopid" in fault.message.replace(" ", "").lower():
        return ErrorRule(ErrorAction.FAIL, AuthError,
                         f"Recreatex refused the ShopId (SOAP fault: {said}); check the house's shop_id credential")
    if fault.code in ("ActionNotSupported", "EndpointNotFound", "ContractFilter"):
        return ErrorRule(ErrorAction.FAIL, ConfigError,
                         f"the endpoint is not a Recreatex WebShop v3.8 service (SOAP fault {fault.code}); "
                         "check base_url")
    if fault.code in ("Client", "Sender") or fault.code.startswith("Deserialization"):
        return ErrorRule(ErrorAction.FAIL, ConfigError, f"Recreatex refused the request (SOAP fault: {said})")
    return ErrorRule(ErrorAction.RETRY, VendorDownError, f"Recreatex server fault {fault.code or '?'}: {said}")


def judge(response: requests.Response) -> ErrorRule:
    """The error-table rule for a response, reading a SOAP fault before the HTTP status."""
    if response.status_code >= 400:
        fault = parse_fault(response.content)
        if fault is not None:
            return fault_rule(fault)
    return rule_for(response.status_code)


class WebShopClient:
    """Calls WebShop operations; returns the raw ``requests.Response`` of a successful call."""

    def __init__(self, endpoint: str, context: Mapping[str, Any], *,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, retry: Retrying | None = None,
                 rate_limiter: RateLimiter | None = None, session: requests.Session | None = None) -> None:
        self.endpoint = endpoint
        self.context = dict(context)
        self.retry = retry or retrying()
        self.rate_limiter = rate_limiter
        self.session = session or new_session()
        self.session.headers.setdefault("Accept", "text/xml")
        self.requests_sent = 0
        self._zeep = zeep.Client(str(WSDL_PATH), transport=QuietTransport(self.session, timeout),
                                 settings=ZEEP_SETTINGS)
        self._service = self._zeep.create_service(BINDING, endpoint)

    def call(self, operation: str, **parts: Any) -> requests.Response:
        """Send ``operation`` with the Context part and ``parts``; retried per the error table."""
        return self.call_decoded(operation, None, **parts)[0]

    def call_decoded(self, operation: str, decode: Callable[[bytes], T] | None,
                     **parts: Any) -> tuple[requests.Response, T | None]:
        """``call``, and ``decode`` the answer inside the retry: an answer that cannot be read whole
        (BadDataError) is asked for again like any broken transfer, never skipped."""
        return self.retry(self._attempt, operation, parts, decode)  # type: ignore[no-any-return]

    def _attempt(self, operation: str, parts: Mapping[str, Any],
                 decode: Callable[[bytes], T] | None) -> tuple[requests.Response, T | None]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        self.requests_sent += 1
        where = f"{operation} at {safe_url(self.endpoint)}"
        try:
            response: requests.Response = getattr(self._service, operation)(Context=self.context, **parts)
        except Exception as exc:
            if not is_transport_fault(exc):
                raise
            log.warning("%s failed: %s", where, type(exc).__name__)
            raise RetryableError(type(exc).__name__, transport_failure(exc, where)) from None
        rule = judge(response)
        if rule.action in (ErrorAction.SUCCESS, ErrorAction.IGNORE):
            if decode is None or rule.action is ErrorAction.IGNORE:
                return response, None
            try:
                return response, decode(response.content)
            except BadDataError as exc:
                log.warning("%s: the answer cannot be read (%s), asking again", where, redact(str(exc))[:200])
                raise RetryableError("undecodable", BadDataError(
                    redact(f"{where}: the answer cannot be read as a whole ({exc})"))) from None
        error = (rule.error or VendorDownError)(redact(f"{where}: {rule.message or response.status_code}"))
        if rule.action is ErrorAction.RATE_LIMITED:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            log.warning("%s: 429, waiting %s s", where, wait if wait is not None else "backoff")
            raise RetryableError("rate limited", error, retry_after=wait)
        if rule.action is ErrorAction.RETRY:
            log.warning("%s: %s, retrying", where, response.status_code)
            raise RetryableError("retry", error)
        raise error

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
