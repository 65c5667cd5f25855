"""The host name Airflow records on a task instance: the Celery worker's name when it has one.

``scripts/airflow.sh start --celery N`` starts N workers on one machine and gives each its name in
``PODIUM_WORKER_NAME``; with ``AIRFLOW__CORE__HOSTNAME_CALLABLE`` pointing here, the Airflow UI (and
the REST API's ``hostname``) show which worker ran each house's task instead of the same machine name.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "PODIUM_WORKER_NAME"


def worker_hostname() -> str:
    """``PODIUM_WORKER_NAME`` when set (a Celery worker), else the machine's fully qualified name."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()
