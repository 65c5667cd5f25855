"""A Flexmail REST API v1 sandbox, answering as the public sources say (README.md lists them).

- HTTP Basic auth: the account id as user, the personal access token as password (any account id
  works and sees its own seeded list; the token is ``token``, default ``sandbox-token``).
- ``GET /contacts?limit=&offset=`` (limit 1..500, default 20): HAL ``{total, limit, offset, _links,
  _embedded: {item: [...]}}``; ``_embedded`` is left out when the page holds no contact. Filters
  ``email`` and ``interest`` (an interest id). ``GET /contacts/{id}``: one contact (404 when it is not on
  the list). ``GET /contacts/{id}/interest-subscriptions``: unpaginated, each item ``{interest_id,
  _embedded: {interest}}``. ``GET /interests``: the account's interests.
- ``POST /contacts/{id}/unsubscribe`` and ``DELETE /contacts/{id}``: the contact leaves the list, so
  ``GET /contacts`` no longer serves it (Pipedream's "new unsubscribe" source detects unsubscribes
  exactly so). Seeded unsubscribed contacts are never listed.
- 60 requests a minute per account by default, answered with 429 + ``Retry-After`` (the kit).
- Errors: ``application/problem+json`` ``{type, title, status, detail}`` (the shape is not public; chosen,
  see README.md).

Data is seeded per account id (Flemish names, Flemish towns, nl/fr/en contacts) and deterministic.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, ClassVar

from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, stable_int, tenant_random

PROBLEM = "application/problem+json"
HAL = "application/hal+json"
MAX_LIMIT, DEFAULT_LIMIT = 500, 20
INTEREST_NAMESPACE = uuid.UUID("6f1c7c1e-8b4e-5b7a-9a43-2d5f0e7b1c11")
# (name as the account uses it, label as contacts see it, visibility)
INTERESTS = (
    ("nieuwsbrief-theater", "Nieuwsbrief theater en dans", "public"),
    ("nieuwsbrief-muziek", "Nieuwsbrief muziek", "public"),
    ("familie", "Familievoorstellingen", "public"),
    ("workshops", "Workshops en lessen", "public"),
    ("pers", "Perslijst", "private"),
)
LANGUAGES = ("nl", "nl", "nl", "nl", "fr", "en")
CONTACT_PATH = re.compile(r"^/contacts/(\d+)(/interest-subscriptions|/unsubscribe)?$")


def account_id(house: str) -> str:
    """The sandbox account id of a demo house (six digits, fixed by the house key)."""
    return str(100_000 + stable_int(f"flexmail:{house}", 8) % 900_000)


def problem(status: int, title: str, detail: str) -> Response:
    """An answer in the sandbox's RFC 7807 problem shape."""
    body = {"type": f"https://api.flexmail.eu/problems/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail}
    return Response(status, json.dumps(body, ensure_ascii=False).encode(), {"Content-Type": PROBLEM})


def _interest(name: str, label: str, visibility: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(INTEREST_NAMESPACE, name)), "name": name, "label": label,
            "visibility": visibility, "description": f"{label} van het huis"}


def _seed(seed: int, account: str, listed: int, unsubscribed: int) -> dict[str, Any]:
    """One account's list: contacts on it, contacts that left it, interests and subscriptions."""
    rng = tenant_random(seed, "flexmail", account)
    interests = [_interest(*row) for row in INTERESTS]
    contacts: dict[int, dict[str, Any]] = {}
    subscriptions: dict[int, list[str]] = {}
    used: set[str] = set()
    next_id = 4100 + stable_int(account, 4) % 500
    for index in range(listed + unsubscribed):
        given, family = ((rng.choice(flemish.GIVEN_NAMES), rng.choice(flemish.FAMILY_NAMES)) if index % 7
                         else flemish.FRANCOPHONE_NAMES[index // 7 % len(flemish.FRANCOPHONE_NAMES)])
        local = f"{given}.{family}".lower().replace(" ", "").replace("é", "e")
        email = f"{local}@{rng.choice(flemish.MAIL_DOMAINS)}"
        while email in used:
            email = f"{local}{rng.randint(2, 99)}@{email.split('@')[1]}"
        used.add(email)
        street, city, postal_code = rng.choice(flemish.HOME_ADDRESSES)
        language = "fr" if index % 7 == 0 else rng.choice(LANGUAGES)
        custom_fields: dict[str, Any] = {
            "street": f"{street} {rng.randint(1, 140)}", "postal_code": postal_code, "city": city,
            "country": "België",
            "phone": f"04{rng.randint(70, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
            if rng.random() < 0.6 else None,
            "abonnement": rng.choice(("Theaterpas", "Vrije keuze", None)),
        }
        contact_id = next_id
        next_id += rng.randint(1, 9)
        contacts[contact_id] = {"id": contact_id, "email": email, "first_name": given, "name": family,
                                "language": language, "custom_fields": custom_fields}
        subscriptions[contact_id] = sorted(i["id"] for i in rng.sample(interests, rng.randint(0, 3)))
    ids = sorted(contacts)
    gone = set(rng.sample(ids, unsubscribed))
    return {"interests": interests, "subscriptions": subscriptions,
            "listed": {i: contacts[i] for i in ids if i not in gone},
            "unsubscribed": {i: contacts[i] for i in ids if i in gone}}


class FlexmailSandbox(Sandbox):
    """Flexmail REST API v1 (contacts, interests, interest subscriptions), seeded per account id."""

    name = "flexmail"
    default_port: ClassVar[int] = 8709

    def __init__(self, *, seed: int = 7, contacts: int = 24, unsubscribed: int = 3, token: str = "sandbox-token",
                 rate_limit_requests: int = 60, rate_limit_window: float = 60.0) -> None:
        super().__init__(seed=seed)
        self.token = token
        # The documented budget is 60 requests a minute; tests that read a lot raise it.
        self.rate_limit_requests, self.rate_limit_window = rate_limit_requests, rate_limit_window
        self._data: TenantDatasets[dict[str, Any]] = TenantDatasets(
            lambda account: _seed(self.seed, account, contacts, unsubscribed))
        self._edits = 0

    # -- test controls -------------------------------------------------------------------------
    def account(self, account: str = "100001") -> dict[str, Any]:
        """One account's data (seeded on first use): ``listed``, ``unsubscribed``, ``interests``, ``subscriptions``."""
        return self._data.get(account)

    def unsubscribe(self, contact_id: int, account: str = "100001") -> None:
        """The contact unsubscribes: it leaves the list (as ``POST /contacts/{id}/unsubscribe`` does)."""
        with self._data.lock:
            data = self.account(account)
            data["unsubscribed"][contact_id] = data["listed"].pop(contact_id)

    def resubscribe(self, contact_id: int, account: str = "100001") -> None:
        """A contact that left the list joins it again (a new opt-in)."""
        with self._data.lock:
            data = self.account(account)
            data["listed"][contact_id] = data["unsubscribed"].pop(contact_id)

    def mutate(self, count: int) -> list[int]:
        """Change ``count`` listed contacts of every account served (their ``abonnement`` field); returns ids."""
        changed: list[int] = []
        with self._data.lock:
            if not self._data:
                self.account()
            self._edits += 1
            for data in self._data.values():
                for contact in list(data["listed"].values())[:count]:
                    contact["custom_fields"]["abonnement"] = f"Wijziging {self._edits}"
                    changed.append(contact["id"])
        return changed

    # -- routes --------------------------------------------------------------------------------
    def error(self, refusal: Refused) -> Response:
        return problem(refusal.status, refusal.kind or "Bad Request", refusal.message)

    def rate_limited(self) -> Response:
        response = problem(429, "Too Many Requests", "Rate limit of 60 requests per minute exceeded")
        response.headers["Retry-After"] = str(self.retry_after_seconds)
        return response

    def route(self, request: Request) -> Response:
        account = checks.basic_auth(request, _AnyAccount(self.token), message="Invalid credentials",
                                    kind="Unauthorized")
        root = f"http://{checks.header(request, 'Host') or '127.0.0.1'}"
        with self._data.lock:
            data = self.account(account)
            if request.path == "/contacts" and request.method == "GET":
                return self._contacts(request, data, root)
            if request.path == "/interests" and request.method == "GET":
                return self._collection(request, data["interests"], root, "/interests",
                                        lambda item: _with_self(item, f"{root}/interests/{item['id']}"))
            match = CONTACT_PATH.match(request.path)
            if match is None:
                raise Refused(404, f"No route for {request.method} {request.path}", "Not Found")
            contact_id, sub = int(match.group(1)), match.group(2)
            contact = data["listed"].get(contact_id)
            if contact is None:
                raise Refused(404, f"Contact {contact_id} not found", "Not Found")
            if sub is None and request.method == "GET":
                return _hal(_contact(contact, root))
            if sub is None and request.method == "DELETE":
                del data["listed"][contact_id]
                return Response(204)
            if sub == "/unsubscribe" and request.method == "POST":
                data["unsubscribed"][contact_id] = data["listed"].pop(contact_id)
                return Response(204)
            if sub == "/interest-subscriptions" and request.method == "GET":
                return _hal(self._subscriptions(data, contact_id, root))
        raise Refused(405, f"{request.method} is not allowed on {request.path}", "Method Not Allowed")

    def _contacts(self, request: Request, data: dict[str, Any], root: str) -> Response:
        contacts = list(data["listed"].values())
        email = request.arg("email")
        if email:
            contacts = [c for c in contacts if c["email"] == email.strip().lower()]
        interest = request.arg("interest")
        if interest:
            contacts = [c for c in contacts if interest in data["subscriptions"].get(c["id"], [])]
        return self._collection(request, contacts, root, "/contacts", lambda c: _contact(c, root))

    def _collection(self, request: Request, items: list[dict[str, Any]], root: str, path: str,
                    render: Any) -> Response:
        page = checks.int_params(request, {"limit": DEFAULT_LIMIT, "offset": 0},
                                 "limit and offset must be integers", kind="Bad Request")
        limit, offset = page["limit"], page["offset"]
        checks.require(1 <= limit <= MAX_LIMIT, 400, f"limit must be between 1 and {MAX_LIMIT}", "Bad Request")
        checks.require(offset >= 0, 400, "offset must not be negative", "Bad Request")
        chunk = items[offset:offset + limit]
        links: dict[str, Any] = {"self": {"href": f"{root}{path}?limit={limit}&offset={offset}"}}
        if offset + limit < len(items):
            links["next"] = {"href": f"{root}{path}?limit={limit}&offset={offset + limit}"}
        body: dict[str, Any] = {"total": len(items), "limit": limit, "offset": offset, "_links": links}
        if chunk:  # HAL leaves _embedded out of an empty collection
            body["_embedded"] = {"item": [render(item) for item in chunk]}
        return _hal(body)

    def _subscriptions(self, data: dict[str, Any], contact_id: int, root: str) -> dict[str, Any]:
        by_id = {interest["id"]: interest for interest in data["interests"]}
        items = [{"interest_id": interest_id,
                  "_links": {"self": {"href": f"{root}/contacts/{contact_id}/interest-subscriptions/{interest_id}"}},
                  "_embedded": {"interest": _with_self(by_id[interest_id], f"{root}/interests/{interest_id}")}}
                 for interest_id in data["subscriptions"].get(contact_id, [])]
        body: dict[str, Any] = {"total": len(items),
                                "_links": {"self": {"href": f"{root}/contacts/{contact_id}/interest-subscriptions"}}}
        if items:
            body["_embedded"] = {"item": items}
        return body


class _AnyAccount(dict):  # type: ignore[type-arg]
    """Every account id is a known user whose password is the sandbox token (one list per account)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(key)

    def __getitem__(self, key: str) -> str:
        return self.token


def _with_self(item: dict[str, Any], href: str) -> dict[str, Any]:
    return {**item, "_links": {"self": {"href": href}}}


def _contact(contact: dict[str, Any], root: str) -> dict[str, Any]:
    href = f"{root}/contacts/{contact['id']}"
    return {**contact, "custom_fields": dict(contact["custom_fields"]),
            "_links": {"self": {"href": href}, "sources": {"href": f"{href}/sources"},
                       "interest-subscriptions": {"href": f"{href}/interest-subscriptions"}}}


def _hal(body: dict[str, Any]) -> Response:
    return Response(200, json.dumps(body, ensure_ascii=False).encode(), {"Content-Type": HAL})
