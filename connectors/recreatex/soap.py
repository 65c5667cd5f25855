"""SOAP plumbing for the Recreatex WebShop service.

zeep builds each request envelope from the WSDL shipped in this package (the endpoint address is
the house's ``base_url``); its transport is the shared ``HttpClient`` (``HttpClientTransport``): a
pooled ``requests`` session with timeouts, the tenacity retry factory, the error table and the rate
limiter, the same as every REST vendor. zeep runs with
``raw_response=True``: the response bytes go, unparsed by zeep, to the shared safe XML decoder,
so a live sync, the raw archive and ``podium map`` on a saved response share one parse path.

A SOAP 1.1 fault always arrives as HTTP 500, so the status alone cannot decide retry vs fail:
``judge`` reads the fault first (safely) and only then falls back to the error table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import zeep
from tenacity import Retrying
from zeep.transports import Transport

from podium.errors import AuthError, BadDataError, ConfigError, VendorDownError
from podium.parsing import safe_iterparse
from podium.sdk.error_table import ErrorAction, ErrorRule, rule_for
from podium.sdk.http import DEFAULT_TIMEOUT, HttpClient
from podium.sdk.ratelimit import RateLimiter
from podium.secrets import safe_text

T = TypeVar("T")

NAMESPACE = "http://www.recreatex.be/webshop/v3.8/"
# Deployed WebShop services put their version in the namespace, and older ones answered with data
# contracts in an older one (v1.x services serialised records in v0.5). Requests are built from the
# v3.8 WSDL; a served document is read whatever WebShop version it is in. Seen in public code:
# v0.5/v1.1 (tijsverkoyen/Recreatex@d0fdbef1 recreatex.php), v1.3 (@e3e6cb8c), v1.6 (@e6181353),
# v3.8 (StadGent/laravel_site_opening-hours FetchRecreatex.php); "WSDL 2.1" (@01a36e07) names no URI.
NAMESPACE_PATTERN = r"http://www\.recreatex\.be/webshop/v\d+\.\d+/"
DOCUMENTED_VERSIONS = ("0.5", "1.1", "1.3", "1.6", "3.8")
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


class HttpClientTransport(Transport):  # type: ignore[misc]
    """zeep's transport, sending through the shared ``HttpClient``: its session, timeouts, error table
    (with ``judge`` reading SOAP faults), retry factory, rate limiter and redaction. Envelopes are
    never logged (they carry the ShopId), and remote schema loads are refused."""

    def __init__(self, client: HttpClient) -> None:
        super().__init__(session=client.session, operation_timeout=client.timeout)
        self.client = client
        self._load: Callable[[bytes], Any] | None = None
        self.document: Any = None

    @contextmanager
    def decoding(self, load: Callable[[bytes], Any] | None) -> Iterator[HttpClientTransport]:
        """Decode the next answer with ``load`` inside the retry (``document`` holds the result)."""
        self._load, self.document = load, None
        try:
            yield self
        finally:
            self._load = None

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        response, self.document = self.client.fetch("POST", address, data=message, headers=headers,
                                                     load=self._load)
        return response

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
        self.http = HttpClient(endpoint, timeout=timeout, retry=retry, rate_limiter=rate_limiter,
                               session=session, headers={"Accept": "text/xml"}, judge=judge)
        self.transport = HttpClientTransport(self.http)
        self._zeep = zeep.Client(str(WSDL_PATH), transport=self.transport, settings=ZEEP_SETTINGS)
        self._service = self._zeep.create_service(BINDING, endpoint)

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def call(self, operation: str, **parts: Any) -> requests.Response:
        """Send ``operation`` with the Context part and ``parts``; retried per the error table."""
        return self.call_decoded(operation, None, **parts)[0]

    def call_decoded(self, operation: str, decode: Callable[[bytes], T] | None,
                     **parts: Any) -> tuple[requests.Response, T | None]:
        """``call``, and ``decode`` the answer inside the retry: an answer that cannot be read whole
        (BadDataError) is asked for again like any broken transfer, never skipped."""
        with self.transport.decoding(decode) as transport:
            response: requests.Response = getattr(self._service, operation)(Context=self.context, **parts)
            return response, transport.document

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()
