# Astro Runtime 3.x (Airflow 3.3) image for the medallion pipeline factory.
# `astro dev start` / `astro deploy` build this; it cannot be built on machines without Docker.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    GX_ANALYTICS_ENABLED=false \
    DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False \
    PYTHONPATH=/usr/local/airflow/include \
    MEDALLION_PROJECT_DIR=/usr/local/airflow

# Task logs go to S3 in production (the lake's `aws_lake` connection). For `astro dev start`,
# put AIRFLOW__LOGGING__REMOTE_LOGGING=False in the project's .env to keep logs local.
ARG LOG_BUCKET=medallion-lake
ENV AIRFLOW__LOGGING__REMOTE_LOGGING=True \
    AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID=aws_lake \
    AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER=s3://${LOG_BUCKET}/airflow/logs

# requirements.txt is installed by the Astro Runtime's ONBUILD step (fully pinned).

# Build the dbt manifest once, at image build time: cosmos renders the gold task group from
# target/manifest.json (LoadMode.DBT_MANIFEST) and never runs dbt while parsing DAGs.
RUN cd /usr/local/airflow/dbt_project \
    && dbt deps --profiles-dir . --target parse \
    && dbt parse --profiles-dir . --target parse
