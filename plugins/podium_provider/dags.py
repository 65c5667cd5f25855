"""The DAG factory behind ``dags/``: the fleet's shape, decided from the house configs.

One DAG per connector (per schedule, when houses override the fleet's schedule), one mapped
``sync`` task instance per enabled house. Parse time reads only ``podium.fleet.scan_fleet`` (a
fast YAML read that checks what orchestration needs — house key, connector, schedule — with no
database and no network); the full validation runs inside the task. Houses with a mistake become
tasks of ``podium_fleet_config_errors`` instead of breaking the parse.
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, RetryAction, RetryRule, get_parsing_context, task
from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy

from plugins.podium_provider.assets import CHANGES_ALIAS, canonical_asset
from plugins.podium_provider.notifications.podium import PodiumFailureNotifier
from plugins.podium_provider.operators.sync import MAP_INDEX_TEMPLATE, PodiumSyncOperator
from podium.errors import AuthError, BadDataError, ConfigError, RateLimitedError
from podium.fleet import FleetProblem, SyncGroup, fleet_groups, fleet_problems, scan_fleet
from podium.paths import houses_dir as houses_dir_default

log = logging.getLogger("podium.airflow")

START_DATE = pendulum.datetime(2024, 1, 1, tz="Europe/Brussels")
PUBLICATION_POOL = "podium_publication"
EXAMPLE_MAILING_DAG_ID = "podium_example_mailing"
EXAMPLE_DAG_ID = "podium_example_publication"
ERRORS_DAG_ID = "podium_fleet_config_errors"
CONFIG_ERRORS_POOL = "podium_fleet_checks"
OWNER_TASK_ID = "owner"

# Retrying cannot fix a wrong config, refused credentials or unreadable data: fail at once and alert.
# A vendor that keeps rate limiting gets a longer pause than the exponential backoff's first step.
RETRY_POLICY = ExceptionRetryPolicy(rules=[
    RetryRule(exception=[ConfigError, AuthError, BadDataError], action=RetryAction.FAIL,
              reason="not transient: fix the config, credentials or data, then clear the task"),
    RetryRule(exception=RateLimitedError, action=RetryAction.RETRY, retry_delay=timedelta(minutes=10),
              reason="vendor rate limit: back off longer"),
])


def _doc(group: SyncGroup) -> str:
    houses = ", ".join(group.houses[:20]) + (f", … ({len(group.houses)} houses)" if len(group.houses) > 20 else "")
    return (f"### Podium sync: {group.connector}\n\n"
            f"Runs `podium sync` for each of **{len(group.houses)}** houses (one mapped task instance per "
            f"house; the map index shows the house key, flagged `⚠ N rejected` when records went to dead "
            f"letters).\n\n"
            f"- schedule: `{group.schedule}`" + (" (house-level override)" if group.custom_schedule else "")
            + f"\n- pool: `{group.pool}` ({group.pool_slots} slots shared by every {group.connector} DAG)\n"
            f"- credentials: the Airflow connection named by each house's `credentials.conn_id`\n"
            f"- outlets: asset events on `podium://canonical/<entity>` for entities that changed\n\n"
            f"Houses: {houses}\n")


def build_sync_dag(group: SyncGroup, houses_dir: str | os.PathLike[str] | None = None) -> DAG:
    """The DAG of one sync group: a single ``sync`` task mapped over the group's houses."""
    settings = group.settings
    connector = group.connector
    default_args: dict[str, Any] = {
        "owner": group.owner,
        "pool": group.pool,
        "retries": int(settings["retries"]),
        "retry_delay": timedelta(minutes=float(settings["retry_delay_minutes"])),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=float(settings["max_retry_delay_minutes"])),
        "retry_policy": RETRY_POLICY,
        "execution_timeout": timedelta(minutes=float(settings["execution_timeout_minutes"])),
        "on_failure_callback": PodiumFailureNotifier(connector),
        "on_retry_callback": PodiumFailureNotifier(connector, event="retrying"),
    }
    folder = os.fspath(houses_dir) if houses_dir is not None else None
    with DAG(
        dag_id=group.dag_id,
        description=f"Sync {connector} for {len(group.houses)} houses",
        schedule=group.schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["podium", "sync", connector] + (["custom-schedule"] if group.custom_schedule else []),
        doc_md=_doc(group),
    ) as dag:

        PodiumSyncOperator.partial(
            task_id="sync", connector=connector, houses_dir=folder,
            map_index_template=MAP_INDEX_TEMPLATE, outlets=[CHANGES_ALIAS],
        ).expand(house=list(group.houses))
        # Airflow 3.3 fills the DAG list's "Owner" from the serialized DAG's unmapped tasks only (a mapped
        # task keeps its owner in partial_kwargs), so the DAG showed "airflow". This unconnected empty task
        # carries the owner from houses/_fleet.yaml; the scheduler marks it done without a worker, and it
        # gates nothing (the run's state still follows every house's sync).
        EmptyOperator(task_id=OWNER_TASK_ID, owner=group.owner,
                      doc_md="Carries the DAG's owner to the Airflow UI; does no work.")
    return dag


def build_sync_dags(houses_dir: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """Every sync DAG of the fleet, by DAG id (only the requested one when a worker parses for a task).

    A house with a mistake is left out of its DAG and shown instead (a parse-time warning, and a
    failing, alerting task per mistake in ``podium_fleet_config_errors``); a group whose DAG fails to
    build is shown the same way. Every other house keeps its DAG.
    """
    wanted = get_parsing_context().dag_id
    scan = scan_fleet(houses_dir)
    problems = [*fleet_problems(houses_dir), *scan.problems]
    dags = {}
    for group in fleet_groups(houses_dir, scan=scan):
        if wanted is not None and wanted != group.dag_id:
            continue
        try:
            dags[group.dag_id] = build_sync_dag(group, houses_dir)
        except Exception as exc:  # one group's failure must not hide the others
            problems.append(FleetProblem(
                file=os.fspath(houses_dir or houses_dir_default()), key=f"connectors.{group.connector}",
                message=f"DAG {group.dag_id} could not be built: {type(exc).__name__}: {exc}",
                fix=f"check the houses {', '.join(group.houses[:5])}… and _fleet.yaml for {group.connector}"))
    for problem in problems:
        log.warning("podium fleet: house config left out of its DAG: %s", problem)
    if problems and wanted in (None, ERRORS_DAG_ID):
        dags[ERRORS_DAG_ID] = build_config_errors_dag(problems)
    return dags


def build_config_errors_dag(problems: list[FleetProblem]) -> DAG:
    """One failing, alerting task instance per house config mistake, named by house file and key."""
    with DAG(
        dag_id=ERRORS_DAG_ID,
        description=f"{len(problems)} house config mistake(s): those houses are not synced until fixed",
        schedule="@hourly",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "podium-ops", "pool": CONFIG_ERRORS_POOL, "retries": 0,
                      "on_failure_callback": PodiumFailureNotifier("config")},
        tags=["podium", "config-errors"],
        doc_md="### House config mistakes\n\nEach mapped task is one mistake found while reading the house "
               "configs; the house is left out of that connector's sync DAG (the other houses keep "
               "running). The task fails, and alerts, with the file, the key and the fix.\n\n"
               + "\n".join(f"- `{p.file}` `{p.key}`: {p.message} — {p.fix}" for p in problems[:50]),
    ) as dag:

        @task(task_id="report", map_index_template="{{ task.op_kwargs['problem']['house'] }} "
                                                   "{{ task.op_kwargs['problem']['key'] }}")
        def report(problem: dict[str, str]) -> None:
            error = ConfigError(f"{problem['file']}: {problem['key']}: {problem['message']} — fix: {problem['fix']}")
            error.podium_report = {"house": problem["house"], "connector": problem["key"].split(".")[1]  # type: ignore[attr-defined]
                                   if problem["key"].startswith("connectors.") else "config",
                                   "status": "failed", "error_class": "config", "failed_stream": None,
                                   "rejected": 0}
            raise error

        report.expand(problem=[p.as_dict() for p in problems])
    return dag


def _example_route_dag(dag_id: str, schedule: Any, owner: str, what: str, doc_md: str) -> DAG:
    """EXAMPLE ONLY: a downstream route scheduled on canonical asset events; it logs counts, nothing more."""
    with DAG(
        dag_id=dag_id,
        description=f"Example: runs when canonical {what} changed; logs the counts per house",
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={"owner": owner, "pool": PUBLICATION_POOL, "retries": 1,
                      "retry_delay": timedelta(minutes=1)},
        tags=["podium", "example", dag_id.removeprefix("podium_example_")],
        doc_md=doc_md,
    ) as dag:

        @task(task_id=f"log_changed_{what.replace(' ', '_')}")
        def log_changed(**context: Any) -> dict[str, dict[str, int]]:
            return summarize_asset_events(context)

        log_changed()
    return dag


def build_example_publication_dag(owner: str = "podium-publication") -> DAG:
    """EXAMPLE ONLY: a publication-route placeholder scheduled on changed canonical events."""
    return _example_route_dag(
        EXAMPLE_DAG_ID, [canonical_asset("event")], owner, "events",
        "### Example downstream DAG\n\nA placeholder for a publication route (e.g. to a public event database or a "
        "website). It is scheduled on the asset `podium://canonical/event` and only logs which "
        "houses changed how many events. It publishes nothing.")


def build_example_mailing_dag(owner: str = "podium-crm") -> DAG:
    """EXAMPLE ONLY: a mailing-route placeholder scheduled on changed contacts or tickets. It also keeps
    those two assets declared, so the sync tasks' alias events on them are recorded as active assets."""
    return _example_route_dag(
        EXAMPLE_MAILING_DAG_ID, canonical_asset("contact") | canonical_asset("ticket"), owner,
        "contacts and tickets",
        "### Example downstream DAG\n\nA placeholder for a mailing route (e.g. audiences in a mailing "
        "tool). Scheduled on `podium://canonical/contact` or `podium://canonical/ticket`; it only logs "
        "which houses changed how many records. It sends nothing.")


def summarize_asset_events(context: MutableMapping[str, Any]) -> dict[str, dict[str, int]]:
    """House -> summed counts from the asset events that triggered this run (logged, returned)."""
    import logging

    log = logging.getLogger("podium.airflow")
    per_house: dict[str, dict[str, int]] = {}
    events = context.get("triggering_asset_events") or {}
    for _asset, asset_events in events.items():
        for event in asset_events:
            extra = event.extra or {}
            house = str(extra.get("house", "?"))
            total = per_house.setdefault(house, {"inserted": 0, "updated": 0, "deleted": 0})
            for key in total:
                total[key] += int(extra.get(key) or 0)
    for house, counts in sorted(per_house.items()):
        log.info("example publication: %s changed events %s (nothing published: example DAG)", house, counts)
    return per_house
