#!/usr/bin/env bash
# medialens on a VPS with faasd: `sudo DOMAIN=media.example.com make deploy` (see README.md).
#
# Checks prerequisites, makes the secrets, adds the services to faasd's compose file, fits the
# gateway's timeouts to stack.yml, configures nginx and MinIO's bucket notifications, and deploys
# the functions. Every step checks before it changes anything, so running it again is safe: it
# keeps existing secrets and data and only replaces what it wrote before.
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
    S3_ACCESS_KEY="medialens$(secret s3-access-key 6)"
    S3_SECRET_KEY="$(secret s3-secret-key)"
    INTAKE_TOKEN="$(secret intake-token)"
    SESSION_KEY="$(secret session-key 32)"
    REDIS_PASSWORD="$(secret redis-password)"
    GATEWAY_PASSWORD="$(cat "$FAASD_DIR/secrets/basic-auth-password")"
    export S3_ACCESS_KEY S3_SECRET_KEY INTAKE_TOKEN SESSION_KEY REDIS_PASSWORD GATEWAY_PASSWORD
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
    install -d -m 700 "$DATA_DIR/minio" "$DATA_DIR/minio-events" "$DATA_DIR/chroma"
    install -d -m 700 -o "$REDIS_UID" -g "$REDIS_UID" "$DATA_DIR/redis"
    # The first run keeps faasd's original file, to compare with or to go back to.
    [[ -e "$FAASD_DIR/docker-compose.yaml.before-medialens" ]] ||
        cp -p "$FAASD_DIR/docker-compose.yaml" "$FAASD_DIR/docker-compose.yaml.before-medialens"
    local rendered
    rendered="$(mktemp)"
    trap 'rm -f "$rendered"' RETURN
    helper render "$HERE/docker-compose.medialens.yaml" "$rendered" --mode 600
    helper compose "$FAASD_DIR/docker-compose.yaml" "$rendered" "$STACK" "${COMPOSE_FLAGS[@]}"
    helper prometheus "$FAASD_DIR/prometheus.yml" "$HERE/prometheus.medialens.yml"
    # faasd-provider (a systemd unit) proxies function calls: its timeout must fit them too.
    install -d /etc/systemd/system/faasd-provider.service.d
    helper provider "$STACK" /etc/systemd/system/faasd-provider.service.d/medialens-timeouts.conf
    systemctl daemon-reload
    log "restarting faasd (pulls images on first start: minutes)"
    systemctl restart faasd-provider faasd
    wait_for "MinIO" "http://127.0.0.1:9000/minio/health/live"
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

configure_notifications() {
    log "buckets and MinIO's webhook to the intake"
    # mc reads an alias from MC_HOST_<alias>: nothing is written to ~/.mc.
    export MC_HOST_medialens="http://$S3_ACCESS_KEY:$S3_SECRET_KEY@127.0.0.1:9000"
    local bucket
    for bucket in $BUCKETS; do
        mc mb --ignore-existing "medialens/$bucket" >/dev/null
    done
    if ! mc event list "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" 2>/dev/null | grep -q "$WEBHOOK_ARN"; then
        mc event add "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" --event put
    fi
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

first_admin_key() {
    # The web app's own code makes the key (it exists once: later runs print nothing).
    local key
    key="$(ctr -n openfaas task exec --exec-id "medialens-admin-$$" ui python -c \
        'from scheduler.connection import redis; from ui.auth import ensure_admin_key; print(ensure_admin_key(redis()) or "")')"
    if [[ -n "$key" ]]; then
        log "the first admin API key (shown once, keep it): $key"
    fi
}

main() {
    check_prerequisites
    create_secrets
    configure_gpu_burst
    add_services
    configure_notifications
    configure_nginx
    deploy_functions
    first_admin_key
    log "done: https://$DOMAIN (S3: https://$S3_DOMAIN)"
}

main "$@"
