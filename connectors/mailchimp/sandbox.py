"""A Mailchimp Marketing API v3 sandbox (list members), answering as the public reference says.

- ``GET /3.0/lists/{list_id}/members``: HTTP Basic with any user name and the API key as password;
  ``count`` (default 10, at most 1,000) / ``offset``; ``status`` (one of the six statuses; archived
  members are served only when asked for by it); ``since_last_changed`` / ``before_last_changed``
  ("changed after/before", exclusive, ISO 8601); ``sort_field`` (``last_changed``, ``timestamp_opt``,
  ``timestamp_signup``) and ``sort_dir`` (``ASC``/``DESC``); ``exclude_fields`` for ``members._links``
  and ``_links``. Answers ``{members, list_id, total_items, _links}``.
- ``GET /3.0/lists/{list_id}/members/{subscriber_hash}``: one member (archived ones too); the hash is
  md5 of the lower-cased e-mail address, and the address itself is accepted in its place.
- Errors are RFC 7807 ``application/problem+json`` ``{type, title, status, detail, instance}``: 401
  "API Key Missing"/"API Key Invalid", 404 "Resource Not Found" (an unknown list or member), 400
  "Invalid Resource" for a bad parameter, 429 "Too Many Requests" with ``Retry-After`` for the kit's
  rate limit and for more than 10 simultaneous connections with one API key.

Every audience (list) id of ten hex digits exists and is seeded on first use with Flemish members in
every status; other ids are unknown (404).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import unicodedata
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from http import HTTPStatus
from typing import Any, ClassVar

from podium import clock
from podium.sandbox import Refused, Request, Response, Sandbox, checks, flemish
from podium.sandbox.datasets import TenantDatasets, tenant_random

PROBLEM = "application/problem+json; charset=utf-8"
ERROR_DOCS = "https://mailchimp.com/developer/marketing/docs/errors/"
API = "/3.0"
MAX_COUNT = 1_000
MAX_CONNECTIONS = 10  # simultaneous connections per user (API key)
STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
# One audience's mix: mostly subscribed, every other status present.
STATUS_CYCLE = ("subscribed", "subscribed", "unsubscribed", "subscribed", "pending", "subscribed", "cleaned",
                "subscribed", "transactional", "archived")
SORT_FIELDS = ("last_changed", "timestamp_opt", "timestamp_signup")
SEED_CHANGED = datetime(2025, 5, 5, 9, 0, tzinfo=UTC)
# The default GDPR marketing permissions Mailchimp adds to an audience (texts as served).
PERMISSIONS = (("d7ce21601c", "Email"), ("d0d0a1b47d", "Direct Mail"), ("75e893aca0", "Customized Online Advertising"))
TAGS = ("abonnee", "jeugd", "senioren", "nieuwsbrief theater", "vrijwilliger")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: md5 of the lower-cased e-mail address."""
    return hashlib.md5(email.lower().encode()).hexdigest()  # the vendor's id, not a security hash


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _parse(value: str) -> datetime:
    text = value.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def problem(status: int, title: str, detail: str) -> Response:
    """An RFC 7807 answer as Mailchimp writes it (the instance is the request id)."""
    body = {"type": ERROR_DOCS, "title": title, "status": status, "detail": detail, "instance": str(uuid.uuid4())}
    return Response(status, json.dumps(body).encode(), {"Content-Type": PROBLEM})


class MailchimpSandbox(Sandbox):
    """Mailchimp audiences, seeded per list id; one API key."""

    name = "mailchimp"
    default_port: ClassVar[int] = 8710
    rate_limit_requests = 50
    api_key = "5f6e3ecf127508cdb5e31e90b0c2a01e-us3"  # the demo houses' key (data centre us3)

    def __init__(self, *, seed: int = 7, members: int = 40, api_key: str | None = None,
                 today: date | None = None) -> None:
        super().__init__(seed=seed)
        self.api_key = api_key or self.api_key
        self.today = today or clock.today(UTC)
        self.member_count = members
        self._data: TenantDatasets[dict[str, dict[str, Any]]] = TenantDatasets(
            lambda list_id: _seed_members(self.seed, list_id, self.member_count))
        self._counter = itertools.count(1)
        self._connections: Counter[str] = Counter()
        self.refused_connections = 0  # requests answered 429 for the connection limit
        self._connections_lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()

    # -- test controls -------------------------------------------------------------------------
    def audience(self, list_id: str = "1b724bb934") -> dict[str, dict[str, Any]]:
        """One audience's members by id (seeded on first use)."""
        return self._data.get(list_id)

    def hold(self) -> None:
        """Keep every data request open until ``release`` (to fill the connection limit in tests)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def open_connections(self) -> int:
        """Requests being answered right now, over all keys."""
        with self._connections_lock:
            return sum(self._connections.values())

    def mutate(self, count: int) -> list[str]:
        """Change ``count`` members of every audience (``last_changed`` on ``today``); returns their ids.

        A subscribed member unsubscribes, any other gets a new phone number: what an audience sees daily.
        """
        changed: list[str] = []
        with self._data.lock:
            if not self._data:
                self.audience()
            newest = max(_parse(m["last_changed"]) for members in self._data.values() for m in members.values())
            now = max(clock.moment_on(self.today, UTC), newest + timedelta(seconds=1))
            step = next(self._counter)
            for members in self._data.values():
                live = sorted((m for m in members.values() if m["status"] != "archived"), key=lambda m: m["id"])
                for member in (live[(step * 5 + i * 7) % len(live)] for i in range(count)):
                    if member["status"] == "subscribed":
                        member["status"], member["unsubscribe_reason"] = "unsubscribed", "N/A (Unsubscribed by admin)"
                    else:
                        member["merge_fields"]["PHONE"] = f"0470 {step:02d} {len(changed):02d} 99"
                    member["last_changed"] = _iso(now)
                    changed.append(member["id"])
        return changed

    # -- pipeline ------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """The kit's pipeline, inside Mailchimp's limit of simultaneous connections per API key."""
        if request.path.startswith("/__sandbox/"):
            return super().dispatch(request)
        user = _api_key(request) or ""  # connections count per account, whatever Basic user name is sent
        with self._connections_lock:
            if self._connections[user] >= MAX_CONNECTIONS:
                answer = problem(429, "Too Many Requests", "You have exceeded the limit of "
                                 f"{MAX_CONNECTIONS} simultaneous connections.")
                answer.headers["Retry-After"] = str(self.retry_after_seconds)
                self.refused_connections += 1
                return answer
            self._connections[user] += 1
        try:
            return super().dispatch(request)
        finally:
            with self._connections_lock:
                self._connections[user] -= 1

    def rate_limited(self) -> Response:
        answer = problem(429, "Too Many Requests", "You have exceeded the request rate; wait and try again.")
        answer.headers["Retry-After"] = str(self.retry_after_seconds)
        return answer

    def error(self, refusal: Refused) -> Response:
        return problem(refusal.status, refusal.kind or HTTPStatus(refusal.status).phrase, refusal.message)

    # -- routes --------------------------------------------------------------------------------
    def route(self, request: Request) -> Response:
        self._authenticate(request)
        parts = request.path.rstrip("/").split("/")
        if request.method == "GET" and parts[:3] == ["", "3.0", "lists"] and len(parts) in (5, 6) \
                and parts[4] == "members":
            self._open.wait(timeout=30)
            members = self._audience_or_404(parts[3])
            if len(parts) == 6:
                return self._member(members, parts[5])
            return self._members(request, parts[3], members)
        if request.method == "GET" and request.path.rstrip("/") == f"{API}/ping":
            return Response.json({"health_status": "Everything's Chimpy!"})
        raise Refused(404, "The requested resource could not be found.", "Resource Not Found")

    def _authenticate(self, request: Request) -> None:
        key = _api_key(request)
        if key is None:
            raise Refused(401, "Your request did not include an API key.", "API Key Missing")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise Refused(401, "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
                          "API Key Invalid")

    def _audience_or_404(self, list_id: str) -> dict[str, dict[str, Any]]:
        if len(list_id) != 10 or any(c not in "0123456789abcdef" for c in list_id):
            raise Refused(404, "The requested resource could not be found.", "Resource Not Found")
        return self.audience(list_id)

    def _member(self, members: dict[str, dict[str, Any]], key: str) -> Response:
        wanted = subscriber_hash(key) if "@" in key else key.lower()
        with self._data.lock:
            member = members.get(wanted)
            if member is None:
                raise Refused(404, "The requested resource could not be found.", "Resource Not Found")
            return Response.json(_with_links(member))

    def _members(self, request: Request, list_id: str, members: dict[str, dict[str, Any]]) -> Response:
        paging = checks.int_params(request, {"count": 10, "offset": 0}, "count and offset must be integers",
                                   kind="Invalid Resource")
        count, offset = paging["count"], paging["offset"]
        checks.require(1 <= count <= MAX_COUNT, 400, f"count must be between 1 and {MAX_COUNT}.", "Invalid Resource")
        checks.require(offset >= 0, 400, "offset must not be negative.", "Invalid Resource")
        status = request.arg("status")
        checks.require(status in (None, "", *STATUSES), 400, f"status must be one of {', '.join(STATUSES)}.",
                       "Invalid Resource")
        sort_field, sort_dir = request.arg("sort_field"), (request.arg("sort_dir") or "ASC").upper()
        checks.require(sort_field in (None, "", *SORT_FIELDS), 400,
                       f"sort_field must be one of {', '.join(SORT_FIELDS)}.", "Invalid Resource")
        checks.require(sort_dir in ("ASC", "DESC"), 400, "sort_dir must be ASC or DESC.", "Invalid Resource")
        try:
            since = _parse(request.arg("since_last_changed") or "") if request.arg("since_last_changed") else None
            before = _parse(request.arg("before_last_changed") or "") if request.arg("before_last_changed") else None
        except ValueError:
            raise Refused(400, "since_last_changed and before_last_changed are ISO 8601 date-times.",
                          "Invalid Resource") from None
        with self._data.lock:
            matches = []
            for member in members.values():
                if (member["status"] != status) if status else member["status"] == "archived":
                    continue
                changed = _parse(member["last_changed"])
                if (since and changed <= since) or (before and changed >= before):
                    continue
                matches.append(member)
            if sort_field:
                # ties keep one stable order (the member id), as a database index does
                matches.sort(key=lambda m: (m[sort_field] or "", m["id"]), reverse=sort_dir == "DESC")
            else:
                matches.sort(key=lambda m: m["id"])
            excluded = set((request.arg("exclude_fields") or "").split(","))
            page = [m if "members._links" in excluded else _with_links(m) for m in matches[offset:offset + count]]
            body: dict[str, Any] = {"members": json.loads(json.dumps(page)), "list_id": list_id,
                                    "total_items": len(matches)}
        if "_links" not in excluded:
            body["_links"] = [{"rel": "self", "href": f"https://us3.api.mailchimp.com{API}/lists/{list_id}/members",
                               "method": "GET"}]
        return Response.json(body)


def _api_key(request: Request) -> str | None:
    """The password of a Basic ``Authorization`` header (Mailchimp ignores the user name)."""
    authorization = checks.header(request, "Authorization") or ""
    if not authorization.startswith("Basic "):
        return None
    try:
        return base64.b64decode(authorization[len("Basic "):], validate=True).decode().partition(":")[2]
    except ValueError:
        return None


def _with_links(member: dict[str, Any]) -> dict[str, Any]:
    href = f"https://us3.api.mailchimp.com{API}/lists/{member['list_id']}/members/{member['id']}"
    return {**member, "_links": [{"rel": "self", "href": href, "method": "GET"}]}


# -- seed data ---------------------------------------------------------------------------------
def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().replace(" ", "").lower()


def _seed_members(seed: int, list_id: str, count: int) -> dict[str, dict[str, Any]]:
    rng = tenant_random(seed, list_id)
    members: dict[str, dict[str, Any]] = {}
    for n in range(count):
        francophone = n % 9 == 4
        if francophone:
            given, family = flemish.FRANCOPHONE_NAMES[n % len(flemish.FRANCOPHONE_NAMES)]
        else:
            given, family = rng.choice(flemish.GIVEN_NAMES), rng.choice(flemish.FAMILY_NAMES)
        domain = flemish.MAIL_DOMAINS[n % len(flemish.MAIL_DOMAINS)]
        local = f"{_ascii(given)}.{_ascii(family)}{n}"
        # Some people type their address with capitals: Mailchimp keeps it, the id hashes it lower-cased.
        email = f"{local.title()}@{domain.title()}" if n % 7 == 3 else f"{local}@{domain}"
        status = STATUS_CYCLE[n % len(STATUS_CYCLE)]
        street, town, postcode = flemish.HOME_ADDRESSES[n % len(flemish.HOME_ADDRESSES)]
        address: Any = ""
        if n % 4 in (0, 2):
            address = {"addr1": f"{street} {rng.randint(1, 120)}", "addr2": "bus 2" if n % 8 == 0 else "",
                       "city": town, "state": "", "zip": postcode, "country": "BE"}
        elif n % 10 == 7:
            address = f"{street} {rng.randint(1, 120)}  {postcode} {town}"  # a text ADDRESS merge field
        # Members 12 and 13 changed in the same second (bulk edits do that).
        changed = SEED_CHANGED + timedelta(minutes=37 * n - (37 if n == 13 else 0))
        opted = changed - timedelta(days=30 + n)
        signed_up = _iso(opted - timedelta(minutes=5)) if status in ("pending", "subscribed") and n % 3 else ""
        member_id = subscriber_hash(email)
        members[member_id] = {
            "id": member_id, "email_address": email, "unique_email_id": member_id[:10],
            "contact_id": hashlib.sha256(f"{list_id}:{email}".encode()).hexdigest()[:32],
            "full_name": f"{given} {family}", "web_id": 368925000 + n, "email_type": "html", "status": status,
            **({"unsubscribe_reason": "N/A (Unsubscribed by member)"} if status == "unsubscribed" else {}),
            "consents_to_one_to_one_messaging": True,
            "merge_fields": {"FNAME": given, "LNAME": family, "ADDRESS": address,
                             "PHONE": f"0{rng.randint(470, 499)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                                      f"{rng.randint(10, 99)}" if n % 3 == 0 else "",
                             "BIRTHDAY": f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}" if n % 5 == 0 else ""},
            "interests": {}, "stats": {"avg_open_rate": round(rng.random(), 2), "avg_click_rate": 0},
            "ip_signup": "", "timestamp_signup": signed_up,
            "ip_opt": "" if status in ("pending", "transactional") else "81.82.0.1",
            "timestamp_opt": "" if status in ("pending", "transactional") else _iso(opted),
            "member_rating": 2 + n % 4, "last_changed": _iso(changed),
            "language": "fr" if francophone else ("en" if n % 11 == 6 else ("" if n % 6 == 5 else "nl")),
            "vip": False, "email_client": "",
            "location": {"latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "",
                         "timezone": "", "region": ""},
            "marketing_permissions": [{"marketing_permission_id": pid, "text": text,
                                       "enabled": status == "subscribed" and (n + i) % 3 != 2}
                                      for i, (pid, text) in enumerate(PERMISSIONS)],
            "source": "Import" if n % 2 else "Hosted Signup Form",
            "tags_count": 1 if n % 4 == 1 else 0,
            "tags": [{"id": 1910789 + n % len(TAGS), "name": TAGS[n % len(TAGS)]}] if n % 4 == 1 else [],
            "list_id": list_id,
        }
    return members
