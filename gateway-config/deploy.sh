#!/usr/bin/env bash
# medialens on a VPS with faasd: `sudo DOMAIN=media.example.com make deploy` (see README.md).
#
# Checks prerequisites, makes the secrets, adds the services to faasd's compose file, fits the
# gateway's timeouts to stack.yml, sets MinIO up (buckets, the app's and Prometheus's accounts,
# bucket notifications), configures nginx, and deploys the functions. Every step checks before it
# changes anything, so running it again is safe: it keeps existing secrets and data and only
# replaces what it wrote before. It prints no secret: each stays in its file under $SECRETS_DIR.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="$(dirname "$HERE")"
STACK="$PROJECT/stack.yml"

FAASD_DIR="${FAASD_DIR:-/var/lib/faasd}"
DATA_DIR="$FAASD_DIR/medialens"
SECRETS_DIR="$FAASD_DIR/secrets/medialens"
GATEWAY_URL="http://127.0.0.1:8080"
NGINX_SITE="/etc/nginx/sites-available/medialens.conf"
ACME_ROOT="/var/www/medialens-acme"
SELF_SIGNED_DIR="/etc/medialens/tls"
REDIS_UID="999"    # the redis user of the official redis image
APP_UID="10001"    # the app image's user (Dockerfile), which also runs the index server
PROMETHEUS_UID="65534"    # faasd's Prometheus runs as nobody
# MinIO accounts and their policies (gateway-config/deploy.py prints the documents). Root makes them
# and is used for nothing else.
APP_S3_USER="medialens-app"
METRICS_S3_USER="medialens-metrics"
# The faasd secret each function in stack.yml names, holding the token callers must bear (the
# template's TOKEN_SECRET; a test keeps the three equal).
FUNCTION_TOKEN_SECRET="medialens-function-token"
# MinIO's target id (MINIO_NOTIFY_WEBHOOK_*_medialens in docker-compose.medialens.yaml).
WEBHOOK_ARN="arn:minio:sqs::medialens:webhook"

: "${DOMAIN:?set DOMAIN to the site name, e.g. sudo DOMAIN=media.example.com make deploy}"
S3_DOMAIN="${S3_DOMAIN:-s3.$DOMAIN}"
TAG="${TAG:-latest}"
REGISTRY="${REGISTRY:-ghcr.io/medialens}"
MEDIALENS_IMAGE="${MEDIALENS_IMAGE:-$REGISTRY/medialens:$TAG}"
DEPLOYER_ALLOW="${DEPLOYER_ALLOW:-127.0.0.1}"
S3_MAX_BODY="${S3_MAX_BODY:-2g}"
UPLOADS_BUCKET="${MEDIALENS_S3_UPLOADS_BUCKET:-uploads}"
BUCKETS="$UPLOADS_BUCKET ${MEDIALENS_S3_RESULTS_BUCKET:-results} ${MEDIALENS_S3_ARTEFACTS_BUCKET:-artefacts}"

log() { printf '==> %s\n' "$*"; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
helper() { python3 "$HERE/deploy.py" "$@"; }

check_prerequisites() {
    log "checking prerequisites"
    [[ $EUID -eq 0 ]] || die "run as root: sudo DOMAIN=$DOMAIN make deploy"
    command -v faasd >/dev/null || die "faasd is not installed: see gateway-config/README.md, 'Install faasd'"
    command -v faas-cli >/dev/null || die "faas-cli is missing: curl -sLS https://cli.openfaas.com | sh"
    command -v mc >/dev/null || die "the MinIO client mc is missing: see gateway-config/README.md, 'mc'"
    [[ -s "$FAASD_DIR/docker-compose.yaml" ]] || die "$FAASD_DIR/docker-compose.yaml not found: run 'faasd install' first"
    [[ -s "$FAASD_DIR/secrets/basic-auth-password" ]] || die "faasd's gateway password is missing: run 'faasd install' first"
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
    command -v nginx >/dev/null || missing+=(nginx)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

# One random value per file, made once: a second run keeps the credentials the data was made with.
# Hex digits only, because faasd interpolates "$" in its compose file.
secret() {
    local file="$SECRETS_DIR/$1"
    if [[ ! -s "$file" ]]; then
        (umask 077 && openssl rand -hex "${2:-24}" >"$file")
    fi
    cat "$file"
}

create_secrets() {
    log "secrets in $SECRETS_DIR"
    install -d -m 700 "$SECRETS_DIR" "$SECRETS_DIR/functions"
    # MinIO's root user: MinIO's and configure_store's alone (the file names predate the app's account).
    S3_ROOT_USER="medialens$(secret s3-access-key 6)"
    S3_ROOT_PASSWORD="$(secret s3-secret-key)"
    # The accounts configure_store makes: the app's (every app service) and Prometheus's.
    APP_S3_ACCESS_KEY="$APP_S3_USER"
    APP_S3_SECRET_KEY="$(secret s3-app-secret-key)"
    METRICS_S3_SECRET_KEY="$(secret s3-metrics-secret-key)"
    INTAKE_TOKEN="$(secret intake-token)"
    SESSION_KEY="$(secret session-key 32)"
    REDIS_PASSWORD="$(secret redis-password)"
    INDEX_TOKEN="$(secret index-token)"
    UI_METRICS_TOKEN="$(secret ui-metrics-token)"
    # The bearer token every function demands (template index.py); the workers send it. It is the
    # function secret of that name (create_function_secrets hands it to faasd).
    FUNCTION_TOKEN="$(secret "functions/$FUNCTION_TOKEN_SECRET")"
    # The web app's first admin password: set at its first start, so it never reaches a log.
    ADMIN_PASSWORD="$(secret admin-password 12)"
    GATEWAY_PASSWORD="$(cat "$FAASD_DIR/secrets/basic-auth-password")"
    export S3_ROOT_USER S3_ROOT_PASSWORD APP_S3_ACCESS_KEY APP_S3_SECRET_KEY INTAKE_TOKEN SESSION_KEY
    export REDIS_PASSWORD INDEX_TOKEN UI_METRICS_TOKEN ADMIN_PASSWORD GATEWAY_PASSWORD FUNCTION_TOKEN
    export DOMAIN S3_DOMAIN MEDIALENS_IMAGE
}

# GPU burst is on when a Vast.ai key is given: VAST_API_KEY=<key> make deploy. The key is kept with the
# other secrets, so later runs keep burst on; deleting $SECRETS_DIR/vast-api-key and deploying turns it off.
configure_gpu_burst() {
    local kept="$SECRETS_DIR/vast-api-key"
    if [[ -n "${VAST_API_KEY:-}" ]]; then
        [[ "$VAST_API_KEY" =~ ^[A-Za-z0-9_-]+$ ]] || die "VAST_API_KEY may hold letters, digits, '-' and '_' only"
        (umask 077 && printf '%s\n' "$VAST_API_KEY" >"$kept")
    fi
    VAST_API_KEY="$(cat "$kept" 2>/dev/null || true)"
    GPU_IMAGE="${GPU_IMAGE:-$REGISTRY/gpu-node:$TAG}"
    # The defaults of gpu/settings.py (a test keeps them equal), in USD.
    GPU_DAILY_CAP="${GPU_DAILY_CAP:-5.0}"
    GPU_MONTHLY_CAP="${GPU_MONTHLY_CAP:-50.0}"
    export VAST_API_KEY GPU_IMAGE GPU_DAILY_CAP GPU_MONTHLY_CAP
    if [[ -n "$VAST_API_KEY" ]]; then
        COMPOSE_FLAGS=()
        log "GPU burst on: nodes run $GPU_IMAGE, capped at $GPU_DAILY_CAP USD a day, $GPU_MONTHLY_CAP a month"
    else
        COMPOSE_FLAGS=(--leave-out gpu-manager)
        log "GPU burst off: no Vast.ai key (VAST_API_KEY=<key> make deploy turns it on); every step runs here"
    fi
}

gateway_login() {
    faas-cli login --gateway "$GATEWAY_URL" --username admin --password-stdin \
        <"$FAASD_DIR/secrets/basic-auth-password" >/dev/null
}

# Function secrets are the ones stack.yml names under `secrets:`; faasd mounts each at
# /var/openfaas/secrets/<name> in the function's container.
create_function_secrets() {
    local name
    for name in $(helper secrets "$STACK"); do
        secret "functions/$name" >/dev/null
        if faas-cli secret list --gateway "$GATEWAY_URL" | awk 'NR > 1 {print $1}' | grep -qx "$name"; then
            faas-cli secret update --gateway "$GATEWAY_URL" --name "$name" --from-file "$SECRETS_DIR/functions/$name"
        else
            faas-cli secret create --gateway "$GATEWAY_URL" --name "$name" --from-file "$SECRETS_DIR/functions/$name"
        fi
    done
}

add_services() {
    log "adding the medialens services to $FAASD_DIR/docker-compose.yaml"
    install -d -m 755 "$DATA_DIR"
    install -d -m 700 "$DATA_DIR/minio" "$DATA_DIR/minio-events"
    install -d -m 700 -o "$REDIS_UID" -g "$REDIS_UID" "$DATA_DIR/redis"
    install -d -m 700 -o "$PROMETHEUS_UID" -g "$PROMETHEUS_UID" "$DATA_DIR/prometheus"
    # The index server runs as the app's user; Chroma's own image, used before, wrote as root.
    install -d -m 700 -o "$APP_UID" -g "$APP_UID" "$DATA_DIR/chroma"
    chown -R "$APP_UID:$APP_UID" "$DATA_DIR/chroma"
    # The first run keeps faasd's original file, to compare with or to go back to.
    [[ -e "$FAASD_DIR/docker-compose.yaml.before-medialens" ]] ||
        cp -p "$FAASD_DIR/docker-compose.yaml" "$FAASD_DIR/docker-compose.yaml.before-medialens"
    local rendered
    rendered="$(mktemp)"
    trap 'rm -f "$rendered"' RETURN
    helper render "$HERE/docker-compose.medialens.yaml" "$rendered" --mode 600
    helper compose "$FAASD_DIR/docker-compose.yaml" "$rendered" "$STACK" "${COMPOSE_FLAGS[@]}"
    helper prometheus "$FAASD_DIR/prometheus.yml" "$HERE/prometheus.medialens.yml"
    # The web app's metrics token, where faasd's Prometheus reads it (never in its config).
    helper secret-file "$DATA_DIR/prometheus/ui-token" --owner "$PROMETHEUS_UID" <<<"$UI_METRICS_TOKEN"
    # faasd-provider (a systemd unit) proxies function calls: its timeout must fit them too.
    install -d /etc/systemd/system/faasd-provider.service.d
    helper provider "$STACK" /etc/systemd/system/faasd-provider.service.d/medialens-timeouts.conf
    systemctl daemon-reload
    log "restarting faasd (pulls images on first start: minutes)"
    systemctl restart faasd-provider faasd
    wait_for "MinIO" "http://127.0.0.1:9000/minio/health/live"
}

wait_for_services() {
    wait_for "the gateway" "$GATEWAY_URL/healthz"
    wait_for "the intake" "http://127.0.0.1:8001/healthz"
    wait_for "the web app" "http://127.0.0.1:8000/healthz"
}

# faasd ignores compose healthchecks, so readiness is polled here, on each service's health URL.
wait_for() {
    local name="$1" url="$2" tries=180
    until curl -fsS -o /dev/null "$url"; do
        ((--tries)) || die "$name did not become healthy at $url: journalctl -u faasd"
        sleep 2
    done
}

# The one step that uses MinIO's root: buckets, their webhook, and the accounts everything else uses.
configure_store() {
    log "MinIO: buckets, the webhook to the intake, the app's account and Prometheus's"
    # mc reads an alias from MC_HOST_<alias>: nothing is written to ~/.mc, and the alias is gone
    # when this step ends.
    export MC_HOST_medialens="http://$S3_ROOT_USER:$S3_ROOT_PASSWORD@127.0.0.1:9000"
    local bucket
    for bucket in $BUCKETS; do
        mc mb --ignore-existing "medialens/$bucket" >/dev/null
    done
    if ! mc event list "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" 2>/dev/null | grep -q "$WEBHOOK_ARN"; then
        mc event add "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" --event put
    fi
    # shellcheck disable=SC2086  # one argument per bucket
    account "$APP_S3_USER" "$APP_S3_SECRET_KEY" app $BUCKETS
    account "$METRICS_S3_USER" "$METRICS_S3_SECRET_KEY" metrics
    unset MC_HOST_medialens
    # The token is signed with the metrics account's key, offline; Prometheus reads it at each scrape.
    MC_HOST_mlmetrics="http://$METRICS_S3_USER:$METRICS_S3_SECRET_KEY@127.0.0.1:9000" \
        mc admin prometheus generate mlmetrics --json |
        helper prometheus-token "$DATA_DIR/prometheus/minio-token" --owner "$PROMETHEUS_UID"
}

# A MinIO user holding the policy of its name (deploy.py policy KIND): both made, or brought up to
# date. The secret goes to mc on stdin, never in argv, where any local user could read it.
account() {
    local user="$1" secret_key="$2" kind="$3"
    shift 3
    local document
    document="$(mktemp)"
    helper policy "$kind" "$@" >"$document"
    mc admin policy create medialens "$user" "$document" >/dev/null
    rm -f "$document"
    printf '%s\n' "$secret_key" | mc admin user add medialens "$user" >/dev/null
    if ! mc admin user info medialens "$user" --json | holds_policy "$user"; then
        mc admin policy attach medialens "$user" --user "$user" >/dev/null
    fi
}

# Whether `mc admin user info --json` (on stdin) lists the policy: MinIO refuses to attach twice.
holds_policy() {
    grep -Eq "\"policyName\": *\"([^\"]*,)?$1(,[^\"]*)?\""
}

configure_nginx() {
    log "nginx for https://$DOMAIN and https://$S3_DOMAIN"
    install -d -m 755 "$ACME_ROOT"
    TLS_CERT="/etc/letsencrypt/live/$DOMAIN/fullchain.pem"
    TLS_KEY="/etc/letsencrypt/live/$DOMAIN/privkey.pem"
    if [[ ! -s "$TLS_CERT" ]]; then
        # Until certbot has run, a self-signed certificate lets nginx start (and answer the
        # HTTP-01 challenge); the next run after certbot picks up the real one.
        TLS_CERT="$SELF_SIGNED_DIR/cert.pem"
        TLS_KEY="$SELF_SIGNED_DIR/key.pem"
        if [[ ! -s "$TLS_CERT" ]]; then
            install -d -m 700 "$SELF_SIGNED_DIR"
            openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=$DOMAIN" \
                -addext "subjectAltName=DNS:$DOMAIN,DNS:$S3_DOMAIN" \
                -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null
        fi
        log "using a self-signed certificate; for Let's Encrypt run:"
        log "  certbot certonly --webroot -w $ACME_ROOT -d $DOMAIN -d $S3_DOMAIN && make deploy"
    fi
    GATEWAY_READ_TIMEOUT="$(helper timeouts "$STACK" | sed -n 's/^gateway write_timeout=//p')"
    export TLS_CERT TLS_KEY GATEWAY_READ_TIMEOUT DEPLOYER_ALLOW S3_MAX_BODY ACME_ROOT
    export HTTP_PORT=80 HTTPS_PORT=443 S3_HTTPS_PORT=443
    export UI_UPSTREAM=127.0.0.1:8000 S3_UPSTREAM=127.0.0.1:9000 GATEWAY_UPSTREAM=127.0.0.1:8080
    helper render "$HERE/nginx/medialens.conf.template" "$NGINX_SITE"
    ln -sf "$NGINX_SITE" /etc/nginx/sites-enabled/medialens.conf
    nginx -t
    systemctl enable --now nginx
    systemctl reload nginx
}

deploy_functions() {
    log "deploying the functions in stack.yml"
    gateway_login
    create_function_secrets
    export REGISTRY TAG OPENFAAS_URL="$GATEWAY_URL"
    # faas-cli puts it into every function's environment (stack.yml): the functions fetch and
    # write through MinIO's address on faasd's bridge (MEDIALENS_S3_FUNCTION_ENDPOINT) and nowhere else.
    export MEDIALENS_FN_ALLOWED_ORIGINS="${MEDIALENS_FN_ALLOWED_ORIGINS:-http://10.62.0.1:9010}"
    if [[ "${BUILD:-0}" == 1 ]]; then
        # Builds, pushes and deploys: needs Docker (buildx) and a registry login on this machine.
        (cd "$PROJECT" && faas-cli up -f stack.yml)
    else
        # Prebuilt images from $REGISTRY (faas-cli publish on a build machine or in CI).
        (cd "$PROJECT" && faas-cli deploy -f stack.yml)
    fi
}

first_admin() {
    # Where the password is, never the password: deploy logs end up in terminals, CI and tickets.
    log "sign in as 'admin' with the first password in $SECRETS_DIR/admin-password (root only), then change it"
}

main() {
    check_prerequisites
    create_secrets
    configure_gpu_burst
    add_services
    configure_store
    wait_for_services
    configure_nginx
    deploy_functions
    first_admin
    log "done: https://$DOMAIN (S3: https://$S3_DOMAIN)"
}

# Sourced (the tests), it defines the steps and runs none.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
