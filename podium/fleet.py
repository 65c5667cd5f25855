"""The fleet: every house config at once, for generation (demos, benchmarks) and for DAG parsing.

``generate_fleet`` writes a realistic, seeded fleet of house configs plus the fleet-level
``_fleet.yaml`` (owner, retries, the house boundary). Which connectors a generated house uses and
their settings, and each connector's schedule, pool slots and owner, are what the installed
connectors declare (``podium.sdk.Connector``); ``_fleet.yaml`` ``connectors.<name>`` overrides the latter.
``scan_fleet``, ``fleet_index`` and ``fleet_groups`` are the *fast* readers the Airflow DAG files
call at parse time: they read only the few keys orchestration needs, with the C YAML loader and no
JSON Schema validation, and check exactly those (house key, installed connector, schedule via
croniter). A house with a mistake there becomes a ``FleetProblem`` and is left out of its group, so
it cannot break the parse of the whole fleet; the full validation (``podium.config.load_house``)
runs inside each sync task, where a broken house fails alone.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from podium.errors import ConfigError
from podium.paths import houses_dir as _default_houses_dir

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

FLEET_FILE = "_fleet.yaml"
# The seed fleet's mix for 248 houses; other sizes keep the same proportions.
KIND_MIX: dict[str, int] = {"cultuurcentrum": 68, "gemeenschapscentrum": 111, "kunstenorganisatie": 69}

# Slots of a vendor pool when neither the connector nor ``_fleet.yaml`` sizes it.
DEFAULT_POOL_SLOTS = 4

# Fleet-level orchestration defaults. Each connector declares its own schedule, pool slots and owner
# (``podium.sdk.Connector``); ``_fleet.yaml`` ``connectors.<name>`` overrides them per fleet.
DEFAULT_FLEET: dict[str, Any] = {
    "owner": "podium-ops",
    "retries": 3,
    "retry_delay_minutes": 2,
    "max_retry_delay_minutes": 30,
    "execution_timeout_minutes": 60,
}


def connector_defaults(name: str) -> dict[str, Any]:
    """The orchestration defaults connector ``name`` declares: schedule, pool slots, owner ({} if not installed)."""
    from podium.registry import get_connector

    try:
        cls = get_connector(name)
    except ConfigError:
        return {}  # reported where it matters: scan_fleet names the unknown connector per house
    spec: dict[str, Any] = {"schedule": cls.default_schedule, "pool_slots": int(cls.pool_slots)}
    if cls.default_owner:
        spec["owner"] = cls.default_owner
    return spec


@dataclass(frozen=True)
class SyncGroup:
    """Houses that sync one connector on one schedule: exactly one Airflow DAG."""

    connector: str
    schedule: str | None
    houses: tuple[str, ...]
    dag_id: str
    pool: str
    pool_slots: int
    owner: str
    custom_schedule: bool = False  # True when houses override the fleet's schedule for this connector
    settings: dict[str, Any] = field(default_factory=dict, compare=False)


def _read_yaml(path: Path) -> Any:
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=_LOADER)


def _folder(houses_dir: str | os.PathLike[str] | None) -> Path:
    return Path(houses_dir) if houses_dir is not None else _default_houses_dir()


def load_fleet_settings(houses_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``_fleet.yaml`` merged over the defaults (a fleet without the file gets the defaults)."""
    path = _folder(houses_dir) / FLEET_FILE
    try:
        raw = _read_yaml(path) if path.exists() else None
    except yaml.YAMLError as exc:
        # The operator's file, not a house's: failing loudly (naming it) beats guessing the fleet's rules.
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    raw = raw if isinstance(raw, dict) else {}
    merged = {**DEFAULT_FLEET, **{k: v for k, v in raw.items() if k != "connectors"}}
    from podium.registry import builtin_names

    listed = raw.get("connectors") or {}
    # Built-ins and the connectors the file names; a third-party connector's defaults are read when a
    # house uses it (``connector_settings``), which spares DAG parsing the entry-point scan.
    connectors = {name: connector_defaults(name) for name in sorted({*builtin_names(), *map(str, listed)})}
    for name, spec in listed.items():
        connectors[str(name)] = {**connectors.get(str(name), {}), **(spec or {})}
    merged["connectors"] = connectors
    if os.environ.get("PODIUM_FLEET_RETRIES"):
        # Local ``dag.test()`` runs (demo): a retry delay there is dead waiting, not backoff.
        merged["retries"] = int(os.environ["PODIUM_FLEET_RETRIES"])
    return merged


def connector_settings(fleet: dict[str, Any], name: str) -> dict[str, Any]:
    """Connector ``name``'s orchestration settings in ``fleet`` (its declared defaults when the fleet has none)."""
    spec = fleet["connectors"].get(name)
    if spec is None:
        spec = fleet["connectors"][name] = connector_defaults(name)
    return spec


# Airflow's schedule presets (``airflow.utils.dates.cron_presets`` plus the two special ones).
SCHEDULE_PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")
HOUSE_KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_EVERY = re.compile(r"^\s*every\s+(\d+)?\s*(minute|hour|day)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FleetProblem:
    """A house config (or fleet config) mistake found while reading the fleet: what, where, and the fix."""

    file: str
    key: str
    message: str
    fix: str
    house: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: {self.message} — fix: {self.fix}"

    def as_dict(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.message, "fix": self.fix,
                "house": self.house or Path(self.file).stem}


@dataclass(frozen=True)
class FleetScan:
    """What the fast reader found: (house, connector, schedule override) to sync, and the problems."""

    entries: tuple[tuple[str, str, str | None], ...]
    problems: tuple[FleetProblem, ...]


def schedule_problem(value: Any) -> tuple[str, str] | None:
    """(message, fix) when ``value`` is not an Airflow schedule (a cron expression or a preset); None if it is."""
    import difflib

    from croniter import croniter

    if value is None:
        return None
    if not isinstance(value, str):
        return (f"schedule {value!r} is not text", "write a cron expression such as \"0 * * * *\" or a preset "
                "such as @hourly, quoted")
    text = value.strip()
    if text in SCHEDULE_PRESETS:
        return None
    if text.startswith("@"):
        close = difflib.get_close_matches(text, SCHEDULE_PRESETS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return (f"unknown schedule preset {value!r}", f"{hint}presets: {', '.join(SCHEDULE_PRESETS)}")
    if len(text.split()) in (5, 6) and croniter.is_valid(text):
        return None
    every = _EVERY.match(text)
    if every:
        n, unit = int(every.group(1) or 1), every.group(2).lower()
        cron = {"minute": f"*/{n} * * * *", "hour": f"0 */{n} * * *", "day": f"0 0 */{n} * *"}[unit]
        if n == 1:
            cron = {"minute": "* * * * *", "hour": "@hourly", "day": "@daily"}[unit]
        return (f"schedule {value!r} is not a cron expression", f"did you mean \"{cron}\"?")
    return (f"schedule {value!r} is not a valid cron expression",
            "five fields \"minute hour day month weekday\" (e.g. \"*/30 * * * *\") or a preset: "
            + ", ".join(SCHEDULE_PRESETS))


def connector_problem(name: str) -> tuple[str, str] | None:
    """(message, fix) when no installed connector is called ``name``; None if one is."""
    import difflib

    from podium.registry import connector_names, is_installed

    if is_installed(name):
        return None
    known = connector_names()
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"unknown connector '{name}'", f"{hint}installed: {', '.join(known) or 'none'}")


def scan_fleet(houses_dir: str | os.PathLike[str] | None = None) -> FleetScan:
    """Read every house file's orchestration keys; a file or connector entry with a mistake becomes a
    problem and is left out, so one house's mistake never takes the other houses' DAGs with it."""
    folder = _folder(houses_dir)
    entries: list[tuple[str, str, str | None]] = []
    problems: list[FleetProblem] = []
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        where = str(path)
        try:
            data = _read_yaml(path)
        except (yaml.YAMLError, OSError) as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = (f"{getattr(exc, 'problem', None) or 'invalid YAML'}"
                      + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "")
                      if isinstance(exc, yaml.YAMLError) else f"cannot read: {exc.strerror}")
            problems.append(FleetProblem(where, "(whole file)", f"unreadable YAML: {reason}",
                                         f"correct the YAML; `podium check --house {path}` shows it", path.stem))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("connectors"), dict):
            problems.append(FleetProblem(where, "connectors", "no 'connectors' mapping",
                                         "list the house's connectors under 'connectors:'", path.stem))
            continue
        key = data.get("house")
        if not isinstance(key, str) or not HOUSE_KEY.match(key) or key != path.stem:
            problems.append(FleetProblem(
                where, "house", f"house key {key!r} must be lower-case words joined by '-' and match the file name",
                f"set 'house: {path.stem}' or rename the file to <house>.yaml", path.stem))
            continue
        for name, spec in data["connectors"].items():
            spec = spec if isinstance(spec, dict) else {}
            if spec.get("enabled", True) is False:
                continue
            name = str(name)
            unknown = connector_problem(name)
            if unknown:
                problems.append(FleetProblem(where, f"connectors.{name}", *unknown, house=key))
                continue
            bad_schedule = schedule_problem(spec.get("schedule"))
            if bad_schedule:
                problems.append(FleetProblem(where, f"connectors.{name}.schedule", *bad_schedule, house=key))
                continue
            entries.append((key, name, spec.get("schedule")))
    return FleetScan(tuple(entries), tuple(problems))


def fleet_index(houses_dir: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Connector -> sorted keys of the houses that enable it. Fast: no schema validation."""
    index: dict[str, list[str]] = {}
    for house, connector, _ in scan_fleet(houses_dir).entries:
        index.setdefault(connector, []).append(house)
    return {name: sorted(houses) for name, houses in sorted(index.items())}


def schedule_slug(schedule: str) -> str:
    """A DAG-id-safe name for a schedule: ``@daily`` -> ``daily``, ``*/15 * * * *`` -> ``x_15_x_x_x_x``."""
    return re.sub(r"[^a-z0-9]+", "_", schedule.lower().replace("*", "x")).strip("_") or "none"


def fleet_groups(houses_dir: str | os.PathLike[str] | None = None, scan: FleetScan | None = None) -> list[SyncGroup]:
    """One group per (connector, schedule): houses that keep the fleet schedule share one group;
    houses that set their own ``schedule`` are grouped by it. Pools stay per vendor across groups.
    Houses with problems (see ``scan_fleet``) are not in any group."""
    folder = _folder(houses_dir)
    fleet = load_fleet_settings(folder)
    scan = scan or scan_fleet(folder)
    bad_defaults = {problem.key.split(".")[1] for problem in fleet_problems(folder, fleet)}
    by_key: dict[tuple[str, str | None], list[str]] = {}
    for house, connector, override in scan.entries:
        spec = connector_settings(fleet, connector)
        default = spec.get("schedule")
        if override is None and connector in bad_defaults:
            continue  # shown once as a fleet problem; the houses that set their own schedule still run
        schedule = default if override in (None, default) else str(override)
        by_key.setdefault((connector, schedule), []).append(house)
    groups = []
    for (connector, schedule), houses in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        spec = connector_settings(fleet, connector)
        custom = schedule != spec.get("schedule")
        dag_id = f"podium_sync_{connector}" + (f"__{schedule_slug(schedule or 'manual')}" if custom else "")
        groups.append(SyncGroup(
            connector=connector, schedule=schedule, houses=tuple(sorted(houses)), dag_id=dag_id,
            pool=f"podium_{connector}", pool_slots=int(spec.get("pool_slots", DEFAULT_POOL_SLOTS)),
            owner=str(spec.get("owner", fleet["owner"])), custom_schedule=custom,
            settings={k: fleet[k] for k in ("retries", "retry_delay_minutes", "max_retry_delay_minutes",
                                            "execution_timeout_minutes")},
        ))
    return groups


def fleet_problems(houses_dir: str | os.PathLike[str] | None = None,
                   fleet: dict[str, Any] | None = None) -> list[FleetProblem]:
    """Mistakes in ``_fleet.yaml`` that orchestration depends on (a connector's default schedule)."""
    folder = _folder(houses_dir)
    fleet = fleet if fleet is not None else load_fleet_settings(folder)
    problems = []
    for connector, spec in sorted(fleet["connectors"].items()):
        bad = schedule_problem((spec or {}).get("schedule"))
        if bad:
            problems.append(FleetProblem(str(folder / FLEET_FILE), f"connectors.{connector}.schedule", *bad))
    return problems


def house_path(key: str, houses_dir: str | os.PathLike[str] | None = None) -> Path:
    """The config file of house ``key`` (``<key>.yaml``, as the config loader requires)."""
    folder = _folder(houses_dir)
    for suffix in (".yaml", ".yml"):
        candidate = folder / f"{key}{suffix}"
        if candidate.exists():
            return candidate
    return folder / f"{key}.yaml"


# -- generation ---------------------------------------------------------------------------------

_TOWNS = (
    "Aalst", "Aarschot", "Asse", "Beersel", "Beringen", "Bilzen", "Blankenberge", "Boom", "Bornem",
    "Brasschaat", "Bree", "Brugge", "Deinze", "Dendermonde", "Diest", "Diksmuide", "Dilbeek", "Eeklo",
    "Essen", "Evergem", "Geel", "Genk", "Gent", "Geraardsbergen", "Gistel", "Grimbergen", "Haacht",
    "Halle", "Hamme", "Harelbeke", "Hasselt", "Heist-op-den-Berg", "Herentals", "Herzele", "Heusden-Zolder",
    "Hoboken", "Hoogstraten", "Houthalen-Helchteren", "Ieper", "Izegem", "Kalmthout", "Kapellen",
    "Kasterlee", "Knokke-Heist", "Kontich", "Kortrijk", "Kuurne", "Lanaken", "Landen", "Lebbeke",
    "Lede", "Leuven", "Lier", "Lokeren", "Lommel", "Londerzeel", "Maaseik", "Maasmechelen", "Machelen",
    "Maldegem", "Mechelen", "Menen", "Merelbeke", "Middelkerke", "Mol", "Mortsel", "Nijlen", "Ninove",
    "Oostende", "Oudenaarde", "Overijse", "Peer", "Poperinge", "Puurs", "Riemst", "Roeselare", "Ronse",
    "Schilde", "Schoten", "Sint-Genesius-Rode", "Sint-Niklaas", "Sint-Truiden", "Stabroek", "Strombeek",
    "Temse", "Tielt", "Tienen", "Tongeren", "Torhout", "Turnhout", "Veurne", "Vilvoorde", "Waregem",
    "Westerlo", "Wetteren", "Wevelgem", "Willebroek", "Zaventem", "Zele", "Zelzate", "Zemst", "Zonhoven",
    "Zottegem", "Zwevegem", "Zwijndrecht", "Berchem", "Borgerhout", "Deurne", "Ekeren", "Merksem", "Wilrijk", "Kessel-Lo",
    "Heverlee", "Wilsele", "Ledeberg", "Gentbrugge", "Sint-Amandsberg", "Mariakerke", "Drongen",
    "Oostakker", "Wondelgem", "Zwijnaarde", "Assebroek", "Sint-Kruis", "Sint-Andries", "Sint-Michiels",
    "Heule", "Marke", "Bissegem", "Kuringen", "Kermt", "Stevoort", "Wezemaal", "Rotselaar", "Boortmeerbeek",
    "Keerbergen", "Tremelo", "Begijnendijk", "Scherpenheuvel", "Tessenderlo", "Ham", "Leopoldsburg",
    "Balen", "Dessel", "Retie", "Arendonk", "Ravels", "Oud-Turnhout", "Beerse", "Vosselaar", "Lille",
    "Olen", "Laakdal", "Meerhout", "Kortenberg", "Bertem", "Huldenberg", "Tervuren", "Wezembeek-Oppem",
)
# Brussels' Dutch-speaking houses are gemeenschapscentra, never cultuurcentra.
_BRUSSELS = (
    "Anderlecht", "Elsene", "Etterbeek", "Jette", "Laken", "Neder-Over-Heembeek", "Oudergem", "Schaarbeek",
    "Sint-Gillis", "Sint-Jans-Molenbeek", "Sint-Lambrechts-Woluwe", "Ukkel", "Vorst", "Watermaal-Bosvoorde",
    "Evere", "Ganshoren", "Haren", "Koekelberg", "Sint-Joost-ten-Node", "Sint-Pieters-Woluwe",
)
# Houses every generated fleet starts with, so demos and docs can name them.
_ANCHORS = {"cultuurcentrum": ("Hasselt", "Turnhout", "Strombeek", "Mechelen"),
            "gemeenschapscentrum": ("Anderlecht", "Jette"),
            "kunstenorganisatie": ("Brugge", "Leuven")}
_KUNSTEN_FORMS = (
    "Theater {t}", "Muziekcentrum {t}", "Kunstencentrum {t}", "Dansgezelschap {t}", "Stadsschouwburg {t}",
    "Concertzaal {t}", "Jeugdtheater {t}", "Figurentheater {t}", "Kamerorkest {t}", "Filmhuis {t}",
)
_KIND_PREFIX = {"cultuurcentrum": ("cc", "Cultuurcentrum {t}"),
                "gemeenschapscentrum": ("gc", "Gemeenschapscentrum {t}"),
                "kunstenorganisatie": ("ko", None)}
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _kind_counts(n_houses: int) -> dict[str, int]:
    total = sum(KIND_MIX.values())
    counts = {kind: n_houses * share // total for kind, share in KIND_MIX.items()}
    leftovers = sorted(KIND_MIX, key=lambda k: (n_houses * KIND_MIX[k]) % total, reverse=True)
    for kind in leftovers[: n_houses - sum(counts.values())]:
        counts[kind] += 1
    return counts


def _connector_block(cls: Any, key: str, name: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Settings as the connector suggests them, credentials by Airflow connection id (never inline)."""
    settings = {**cls.example_settings(key, name), **(overrides or {})}
    return {"settings": settings, "credentials": {"conn_id": f"{cls.name}_{key.replace('-', '_')}"}}


# A house runs a ticketing system, a CRM or mailing tool, a planning tool, a website and a few feeds: no
# generated house has more connectors than this.
MAX_CONNECTORS_PER_HOUSE = 6


def _pick_connectors(kind: str, rng: random.Random, candidates: dict[str, Any]) -> list[str]:
    """The connectors of one generated house: at most one per ``example_group`` (e.g. one box office),
    each other one by its ``example_share``, topped up to two from the most common ones, and at most
    ``MAX_CONNECTORS_PER_HOUSE`` (the rarest loners for the kind give way)."""
    chosen: list[str] = []
    groups: dict[str, list[str]] = {}
    for name, cls in candidates.items():
        if cls.example_group:
            groups.setdefault(cls.example_group, []).append(name)
    for members in (groups[g] for g in sorted(groups)):
        roll, edge = rng.random(), 0.0
        for name in members:
            edge += float(candidates[name].example_share.get(kind, 0.0))
            if roll < edge:
                chosen.append(name)
                break
    loners = [name for name, cls in candidates.items() if not cls.example_group]
    for name in loners:
        if rng.random() < float(candidates[name].example_share.get(kind, 0.0)):
            chosen.append(name)
    common = sorted(loners, key=lambda n: -sum(candidates[n].example_share.values()))
    for filler in common:
        if len(chosen) >= 2:
            break
        if filler not in chosen:
            chosen.append(filler)
    rarest_first = sorted((n for n in chosen if n in loners),
                          key=lambda n: float(candidates[n].example_share.get(kind, 0.0)))
    while len(chosen) > MAX_CONNECTORS_PER_HOUSE and rarest_first:
        chosen.remove(rarest_first.pop(0))
    return [name for name in candidates if name in chosen]


def generate_fleet(n_houses: int, out_dir: Path, seed: int = 1, *,
                   settings: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """Write ``n_houses`` seeded, realistic house configs and ``_fleet.yaml`` into ``out_dir``.

    For 248 houses the mix is the seed's: 68 cultuurcentra, 111 gemeenschapscentra and 69
    kunstenorganisaties, each enabling 2-6 connectors. ``settings`` overrides a vendor's settings for
    every house (e.g. ``{"<connector>": {"base_url": sandbox.url}}`` to point the fleet at sandboxes).
    Returns the house files written (not ``_fleet.yaml``).
    """
    rng = random.Random(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = settings or {}
    written: list[Path] = []
    used: set[str] = set()
    buckets: set[str] = set()  # every bucket a generated house reads: the boundary allows exactly those
    from podium.registry import all_connectors

    candidates = {name: cls for name, cls in all_connectors().items() if cls.example_share}
    for kind, count in _kind_counts(n_houses).items():
        prefix, name_form = _KIND_PREFIX[kind]
        pool = list(_TOWNS) + (list(_BRUSSELS) if kind == "gemeenschapscentrum" else [])
        rng.shuffle(pool)
        anchors = _ANCHORS[kind]
        towns = list(anchors) + [t for t in pool if t not in anchors]
        for i in range(count):
            town = towns[i % len(towns)]
            form = name_form or ("Stadsschouwburg {t}" if i == 0 else rng.choice(_KUNSTEN_FORMS))
            name = form.format(t=town)
            key = f"{prefix}-{_slug(town)}"
            if kind == "kunstenorganisatie":
                key = f"{prefix}-{_slug(form.split(' ')[0])}-{_slug(town)}"
            base_key, n = key, 2
            while key in used:
                key, n = f"{base_key}-{n}", n + 1
            used.add(key)
            connectors: dict[str, Any] = {}
            for connector in _pick_connectors(kind, rng, candidates):
                cls = candidates[connector]
                block = _connector_block(cls, key, name, settings.get(connector))
                if cls.example_group == "ticketing" and kind == "kunstenorganisatie" and rng.random() < 0.15:
                    block = {"schedule": "*/15 * * * *", **block}  # busy box office: a tighter schedule
                if rng.random() < 0.03:
                    block = {"enabled": False, **block}  # contract paused: config kept, not synced
                connectors[connector] = block
                buckets.update([block["settings"]["bucket"]] if "bucket" in block["settings"] else [])
            doc = {"house": key, "name": name, "kind": kind, "timezone": "Europe/Brussels",
                   "contact": f"integraties@{key}.example.be", "connectors": connectors}
            path = out_dir / f"{key}.yaml"
            path.write_text(yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, allow_unicode=True), encoding="utf-8")
            written.append(path)
    boundary = {"shared_credentials": {"conn_ids": [], "env": []}, "house_data_root": "{var}/houses/{house}",
                "s3_buckets": sorted(buckets), "s3_prefix": "{house}/"}
    (out_dir / FLEET_FILE).write_text(
        "# Fleet-level orchestration (read by dags/). Each connector declares its schedule and pool slots;\n"
        "# connectors.<name>: {schedule, pool_slots, owner} here overrides them for this fleet.\n"
        "# A house may set connectors.<name>.schedule to get its own DAG for that schedule.\n"
        "# The boundary keys (shared_credentials, house_data_root, s3_*) limit what a house reaches.\n"
        + yaml.dump({**DEFAULT_FLEET, **boundary}, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    return sorted(written)
