#!/usr/bin/env bash
# Deploy the video RAG function app with the plain Azure CLI (no azd): resource group, the
# infrastructure of main.bicep, the database migrations, then the code.
#
# Needs: az (logged in: `az login`), Python 3.13 and make; Azure Functions Core Tools (`func`) if
# you have it. The signed-in account needs Owner on the resource group (or Contributor plus
# "Role Based Access Control Administrator"), because the template assigns roles.
#
# Environment (the same names azd uses, so one main.parameters.json serves both):
#   AZURE_RESOURCE_GROUP     required  resource group (created if missing)
#   AZURE_LOCATION           required  region with Flex Consumption
#                                      (`az functionapp list-flexconsumption-locations -o table`)
#   POSTGRES_ADMIN_PASSWORD  required  PostgreSQL admin password (8-128 chars, 3 character classes)
#   AZURE_ENV_NAME           optional  name prefix of the resources (default: vrag)
#   AZURE_SUBSCRIPTION_ID    optional  subscription (default: the CLI's current one)
#   POSTGRES_ADMIN_LOGIN     optional  default videoragadmin
#   POSTGRES_CLIENT_IP       optional  your public IPv4 address: adds a firewall rule for it so the
#                                      migrations can run from this machine. Without it, only Azure
#                                      services reach the server and the migrations step will fail
#                                      unless this machine runs in Azure.
#                                      (e.g. POSTGRES_CLIENT_IP=$(curl -s https://api.ipify.org))
#   any setting of the README's Settings table, by its name (CHAT_MODEL, SESSION_EXPIRE_MINUTES,
#   MAX_VIDEOS_PER_SESSION, OPENAI_API_KEY, AZURE_OPENAI_ENDPOINT, ...)
#                            optional  whatever of them is set in your shell is deployed (secrets
#                                      go to Key Vault), the others keep the template's default.
#                                      Set them again for every run: a run puts back every setting
#                                      it is not given (main.parameters.json lists the names).
#   SKIP_MIGRATIONS=1, SKIP_PUBLISH=1  skip those steps
#
# Code publishing: `func azure functionapp publish <app> --python` when Core Tools is installed;
# otherwise a zip of the project honoring .funcignore, deployed with
# `az functionapp deployment source config-zip --build-remote true`, which on a Flex Consumption
# app is the plan's "one deploy" (the package goes to the deployment container and
# requirements.txt is installed remotely, on Linux with Python 3.13).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

: "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP (the resource group to deploy to)}"
: "${AZURE_LOCATION:?set AZURE_LOCATION (a region with Flex Consumption)}"
: "${POSTGRES_ADMIN_PASSWORD:?set POSTGRES_ADMIN_PASSWORD (the PostgreSQL admin password)}"
export AZURE_ENV_NAME="${AZURE_ENV_NAME:-vrag}"
export POSTGRES_ADMIN_PASSWORD

python=$(sh "$here/../tools/find-python") ||
    { echo "Python 3.13 is required (python3.13 on PATH, or pyenv's 3.13)" >&2; exit 1; }
command -v az >/dev/null || { echo "the Azure CLI (az) is required" >&2; exit 1; }

if [[ -n "${AZURE_SUBSCRIPTION_ID:-}" ]]; then
    az account set --subscription "$AZURE_SUBSCRIPTION_ID"
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

echo "==> resource group $AZURE_RESOURCE_GROUP ($AZURE_LOCATION)"
az group create --name "$AZURE_RESOURCE_GROUP" --location "$AZURE_LOCATION" --output none

# Secrets go through a private parameters file, never through the command line.
"$python" "$here/deploytool.py" parameters --output "$workdir/parameters.json"

deployment="video-rag-$(date -u +%Y%m%d%H%M%S)"
echo "==> infrastructure (deployment $deployment; takes several minutes)"
az deployment group create \
    --resource-group "$AZURE_RESOURCE_GROUP" \
    --name "$deployment" \
    --template-file "$here/main.bicep" \
    --parameters "@$workdir/parameters.json" \
    --output none

output() {
    az deployment group show --resource-group "$AZURE_RESOURCE_GROUP" --name "$deployment" \
        --query "properties.outputs.$1.value" --output tsv
}
app_name=$(output AZURE_FUNCTION_APP_NAME)
health_url=$(output FUNCTION_APP_HEALTH_URL)
postgres_fqdn=$(output POSTGRES_FQDN)
postgres_database=$(output POSTGRES_DATABASE)
postgres_login=$(output POSTGRES_ADMIN_LOGIN)
echo "    function app: $app_name"
echo "    PostgreSQL:   $postgres_fqdn / $postgres_database"

if [[ "${SKIP_MIGRATIONS:-0}" == "1" ]]; then
    echo "==> migrations skipped (SKIP_MIGRATIONS=1): run 'make migrate' before using the app"
else
    if [[ -z "${POSTGRES_CLIENT_IP:-}" ]]; then
        echo "    note: POSTGRES_CLIENT_IP is not set, so no firewall rule admits this machine;" \
            "the migrations only connect from inside Azure." >&2
    fi
    echo "==> migrations (alembic upgrade head)"
    PG_VECTOR_CONNECTION_STRING=$(
        "$python" "$here/deploytool.py" pg-url \
            --host "$postgres_fqdn" --database "$postgres_database" --user "$postgres_login"
    )
    export PG_VECTOR_CONNECTION_STRING
    make migrate
fi

if [[ "${SKIP_PUBLISH:-0}" == "1" ]]; then
    echo "==> code not published (SKIP_PUBLISH=1)"
elif command -v func >/dev/null && [[ ! -d .azure ]]; then
    # Core Tools packages everything .funcignore does not exclude; `.azure/` (azd's environments,
    # with secrets) is not in .funcignore, hence the zip path below when it exists.
    echo "==> code (Core Tools: func azure functionapp publish, remote build)"
    func azure functionapp publish "$app_name" --python
else
    echo "==> code (zip honoring .funcignore + az functionapp deployment source config-zip)"
    "$python" "$here/deploytool.py" package --output "$workdir/app.zip" --exclude .python_packages/
    az functionapp deployment source config-zip \
        --resource-group "$AZURE_RESOURCE_GROUP" --name "$app_name" \
        --src "$workdir/app.zip" --build-remote true --output none
fi

echo "==> done: curl $health_url"
