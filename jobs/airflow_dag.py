"""An example Airflow DAG that retrains nightly through ``python -m jobs retrain``.

For installations that schedule with Airflow instead of the bot's own scheduler: copy
this file into Airflow's ``dags/`` folder, set ``PROJECT`` to the checkout, and set
``RETRAIN_CRON=off`` for the bot so only one scheduler triggers trainings. The task
fails when the training fails (exit 2); a rejected model (exit 1) or a training
already running (exit 3) are skips, not failures. Needs ``apache-airflow`` 2.7 or
later, which this project does not install (on Airflow 3, import ``BashOperator``
from ``airflow.providers.standard.operators.bash``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

PROJECT = "/opt/movie-bot"
# The same exit codes as `python -m jobs retrain`: 1 rejected and 3 busy are skips.
RETRAIN = f"cd {PROJECT} && .venv/bin/python -m jobs retrain"

with DAG(
    dag_id="movie_bot_retrain",
    schedule="0 3 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,  # like RETRAIN_MISSED=run: one run for any number of missed nights
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=30)},
    tags=["recommender"],
) as dag:
    BashOperator(task_id="retrain", bash_command=RETRAIN, skip_on_exit_code=[1, 3],
                 execution_timeout=timedelta(hours=2))
