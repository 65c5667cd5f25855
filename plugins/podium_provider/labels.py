"""House-key labels for every mapped sync task instance: pending, running, retrying and done.

The sync DAGs map ``PodiumSyncOperator`` over a literal list of house keys with a
``map_index_template``; Airflow 3.3.2 renders that template only in the worker, so until a try
starts the UI shows the bare map index (``0``, ``1``…). Two gaps, two fixes, both scheduler/API side:

- **Pending.** The mapped task instances of a literal ``expand`` are created with the DAG run
  (``DagRun.verify_integrity``), with no label. The listener below fires when the scheduler starts the
  run (``on_dag_run_running``, ``msg="started"``, inside the scheduler's own session) and writes
  ``houses[map_index]`` into every sync task instance that has no label yet.
- **Retrying.** A try that fails and will be retried reports ``UP_FOR_RETRY`` without its label
  (3.3.2's task runner builds ``RetryTask`` without ``rendered_map_index``), and the execution API's
  ``ti_update_state`` writes that ``None`` both onto the task instance (now the next try) and, via
  ``TaskInstance.prepare_db_for_next_try``, into the failed try's history row (``"1"``). No listener
  hook fires on the server for that transition (task instance hooks run in the worker, which has no
  database), so a ``before_flush`` guard installed when the plugin loads keeps the label the try had.

The worker still has the last word: every try renders the template again (``"cc-x ⚠ 2 rejected"``),
and nothing here overwrites a label that is set.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger("podium.airflow")

SYNC_OPERATOR = "PodiumSyncOperator"
HOUSE_ARGUMENT = "house"
LABEL_LENGTH = 250  # task_instance.rendered_map_index is a VARCHAR(250)


def sync_houses(dag: Any) -> dict[str, list[str]]:
    """Task id -> house keys (by map index) of the DAG's podium sync tasks mapped over a literal list."""
    houses: dict[str, list[str]] = {}
    for task_id, task in getattr(dag, "task_dict", {}).items():
        if getattr(task, "task_type", None) != SYNC_OPERATOR or not getattr(task, "is_mapped", False):
            continue
        value = getattr(getattr(task, "expand_input", None), "value", None)
        if not isinstance(value, dict) or list(value) != [HOUSE_ARGUMENT]:
            continue
        keys = value[HOUSE_ARGUMENT]
        # Only a single literal list maps index i to keys[i]; an XCom input is resolved at run time.
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            houses[task_id] = keys
    return houses


def label_pending_task_instances(dag_run: Any, session: Any, dag: Any = None) -> int:
    """Write the house key into the run's sync task instances that have no label; return how many.

    Runs in the caller's transaction (a savepoint, so a failure here leaves the scheduler's work
    intact) and never commits.
    """
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import case, update

    if dag is None:
        dag = getattr(dag_run, "dag", None)
    if dag is None:
        from airflow.models.dagbag import DBDagBag

        dag = DBDagBag().get_dag_for_run(dag_run, session=session)
    labelled = 0
    for task_id, houses in sync_houses(dag).items():
        if not houses:
            continue
        # A savepoint on the connection, not the session: the scheduler runs listeners inside its own
        # transaction with a guard that refuses any session commit (a session savepoint's release is one),
        # and a failed label must not abort that transaction.
        connection = session.connection()
        with connection.begin_nested():
            result = connection.execute(
                update(TaskInstance.__table__)
                .where(TaskInstance.__table__.c.dag_id == dag_run.dag_id,
                       TaskInstance.__table__.c.run_id == dag_run.run_id,
                       TaskInstance.__table__.c.task_id == task_id,
                       TaskInstance.__table__.c.map_index.between(0, len(houses) - 1),
                       TaskInstance.__table__.c.rendered_map_index.is_(None))
                .values(rendered_map_index=case({index: house[:LABEL_LENGTH] for index, house in enumerate(houses)},
                                                value=TaskInstance.__table__.c.map_index)))
        labelled += int(getattr(result, "rowcount", 0) or 0)
    return labelled


def link_changes_alias(session: Any) -> int:
    """Relate the sync tasks' asset alias to the canonical entities' assets before any sync task runs.

    Airflow 3.3 relates an alias to an asset the first time a task emits an event through it, without
    guarding against a second task doing the same at the same moment: two houses finishing together
    on two workers both insert the relation, and the loser's *successful* sync is set to failed
    (``asset_alias_asset_pkey``). Made here, by the one scheduler as it starts a run, the relation
    already exists when the tasks report. Returns how many relations it added (through a connection
    savepoint, inside the scheduler's transaction)."""
    from airflow.models.asset import AssetAliasModel, AssetModel, alias_association_table
    from sqlalchemy import insert, select

    from plugins.podium_provider.assets import CHANGES_ALIAS, ENTITIES, canonical_asset

    connection = session.connection()
    alias_id = connection.execute(select(AssetAliasModel.__table__.c.id).where(
        AssetAliasModel.__table__.c.name == CHANGES_ALIAS.name)).scalar()
    if alias_id is None:
        return 0
    assets = AssetModel.__table__
    added = 0
    for entity in ENTITIES:
        asset = canonical_asset(entity)
        asset_id = connection.execute(select(assets.c.id).where(assets.c.name == asset.name,
                                                                assets.c.uri == asset.uri)).scalar()
        if asset_id is None:
            continue
        link = alias_association_table
        if connection.execute(select(link.c.alias_id).where(link.c.alias_id == alias_id,
                                                             link.c.asset_id == asset_id)).first() is None:
            with connection.begin_nested():
                connection.execute(insert(link).values(alias_id=alias_id, asset_id=asset_id))
            added += 1
    return added


class PodiumLabelsListener:
    """Airflow listener: labels a sync DAG run's task instances when the scheduler starts the run."""

    @hookimpl
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        try:
            if session is not None:
                link_changes_alias(session)
                labelled = label_pending_task_instances(dag_run, session)
            else:
                from airflow.utils.session import create_session

                with create_session() as own_session:
                    link_changes_alias(own_session)
                    labelled = label_pending_task_instances(dag_run, own_session)
        except Exception:  # a label is cosmetic: never let it stop a run from starting
            log.exception("podium labels: could not label the task instances of %s %s",
                          dag_run.dag_id, dag_run.run_id)
            return
        if labelled:
            log.debug("podium labels: %d task instance(s) of %s %s labelled by house",
                      labelled, dag_run.dag_id, dag_run.run_id)


LISTENER = PodiumLabelsListener()


def keep_label_on_retry(session: Any, flush_context: Any, instances: Any) -> None:
    """``before_flush``: when Airflow moves a sync task instance to its next try and wipes its label
    (``rendered_map_index`` set to ``None`` while its ``id`` changes), keep the label the try had, on
    the task instance and on the failed try's history row."""
    if "airflow.models.taskinstance" not in sys.modules:  # a process without Airflow's database models
        return
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from sqlalchemy import inspect
    from sqlalchemy.orm.attributes import flag_modified

    for ti in [obj for obj in session.dirty if isinstance(obj, TaskInstance)]:
        if ti.operator != SYNC_OPERATOR or ti._rendered_map_index is not None:
            continue
        attrs: Any = inspect(ti).attrs
        old_ids = attrs["id"].history.deleted
        label = next((value for value in attrs["_rendered_map_index"].history.deleted if value), None)
        if not old_ids or label is None:
            continue
        ti._rendered_map_index = label
        # Set back to the value it was loaded with: force it into the UPDATE, which runs after
        # ti_update_state's own UPDATE (the session does not autoflush) that wrote NULL.
        flag_modified(ti, "_rendered_map_index")
        for row in session.new:
            if (isinstance(row, TaskInstanceHistory) and row.task_instance_id == old_ids[0]
                    and row.rendered_map_index in (None, str(ti.map_index))):
                row.rendered_map_index = label


def install_retry_label_guard() -> None:
    """Register :func:`keep_label_on_retry` on every SQLAlchemy session of this process (idempotent)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_flush", keep_label_on_retry):
        event.listen(Session, "before_flush", keep_label_on_retry)


def uninstall_retry_label_guard() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if event.contains(Session, "before_flush", keep_label_on_retry):
        event.remove(Session, "before_flush", keep_label_on_retry)


class PodiumLabelsPlugin(AirflowPlugin):
    """House-key labels for the sync DAGs' mapped task instances (see the module docstring)."""

    name = "podium_labels"
    listeners = [LISTENER]

    @classmethod
    def on_load(cls, *args: Any, **kwargs: Any) -> None:
        install_retry_label_guard()
