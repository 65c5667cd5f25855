"""The sandbox kit: what every vendor sandbox shares, so a vendor's ``sandbox.py`` keeps only its vendor.

- ``server``: ``Sandbox`` (threaded loopback server, rate limit, injected HTTP faults, queued raw
  answers, request log), ``Request``, ``Response``, ``Refused``.
- ``datasets``: tenant-seeded datasets (``TenantDatasets``, ``tenant_random``, ``stable_int``).
- ``flemish``: shared fixture data (venues, people's names, streets).
- ``calendar``: daylight-saving nights and the cultural season.
- ``checks``: auth and paging checks that raise ``Refused`` in the vendor's words.
- ``faults``: the fault modes (injected HTTP faults, raw answers, and where transport faults live:
  ``podium.testing.faults.FaultProxy`` in front of any sandbox).
"""

from podium.sandbox.server import Refused, Request, Response, Sandbox

__all__ = ["Refused", "Request", "Response", "Sandbox"]
