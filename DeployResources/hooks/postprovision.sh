#!/bin/sh
# azd postprovision hook: apply the Alembic migrations to the database that `azd provision` just
# created, before `azd deploy` publishes the code. azd exports the template's outputs
# (POSTGRES_FQDN, POSTGRES_DATABASE, POSTGRES_ADMIN_LOGIN) and the environment's values
# (`azd env set POSTGRES_ADMIN_PASSWORD ...`) to this script.
#
# The server admits Azure services only, plus POSTGRES_CLIENT_IP when you set it; from anywhere
# else the migrations cannot connect: set it (`azd env set POSTGRES_CLIENT_IP <your public IP>`,
# then `azd provision`), or run them from a machine that can reach the server.
# SKIP_MIGRATIONS=1 skips this step.
set -eu

cd "$(dirname "$0")/../.."

if [ "${SKIP_MIGRATIONS:-0}" = "1" ]; then
    echo "postprovision: SKIP_MIGRATIONS=1, migrations not run (run 'make migrate' before using the app)."
    exit 0
fi

: "${POSTGRES_FQDN:?missing: run azd provision first}"
: "${POSTGRES_DATABASE:?missing: run azd provision first}"
: "${POSTGRES_ADMIN_LOGIN:?missing: run azd provision first}"
if [ -z "${POSTGRES_ADMIN_PASSWORD:-}" ]; then
    echo "postprovision: POSTGRES_ADMIN_PASSWORD is not in the azd environment, so the migrations" >&2
    echo "cannot run. 'azd env set POSTGRES_ADMIN_PASSWORD <the server password>' and run" >&2
    echo "'azd provision' again (or SKIP_MIGRATIONS=1 and run 'make migrate' yourself)." >&2
    exit 1
fi
if [ -z "${POSTGRES_CLIENT_IP:-}" ]; then
    echo "postprovision: POSTGRES_CLIENT_IP is not set; the server may refuse this machine." >&2
fi

PYTHON=$(command -v python3.13 || command -v python3)
PG_VECTOR_CONNECTION_STRING=$(
    "$PYTHON" DeployResources/deploytool.py pg-url \
        --host "$POSTGRES_FQDN" --database "$POSTGRES_DATABASE" --user "$POSTGRES_ADMIN_LOGIN"
)
export PG_VECTOR_CONNECTION_STRING
echo "postprovision: migrating $POSTGRES_DATABASE on $POSTGRES_FQDN (alembic upgrade head)"
make migrate
