#!/usr/bin/env bash
# The Kubernetes Secrets of medialens, made once with random values (as deploy.sh makes faasd's):
#   bash gateway-config/kubernetes/secrets.sh      (after OpenFaaS's chart, before kubectl apply -k)
# A secret that exists is kept: the data was made with it. Values travel in files of a private
# temporary folder, never in argv, and none is printed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBECTL="${KUBECTL:-kubectl}"
NAMESPACE="medialens"
# OpenFaaS's chart: its gateway's admin password (Secret basic-auth) and the functions' namespace.
OPENFAAS_NAMESPACE="${OPENFAAS_NAMESPACE:-openfaas}"
FUNCTION_NAMESPACE="${FUNCTION_NAMESPACE:-openfaas-fn}"
# The function secret each function in stack.yml names (the template's TOKEN_SECRET): faas-netes
# mounts its key at /var/openfaas/secrets/medialens-function-token.
FUNCTION_TOKEN_SECRET="medialens-function-token"

log() { printf '==> %s\n' "$*"; }

exists() {
    "$KUBECTL" -n "$1" get secret "$2" >/dev/null 2>&1
}

# secret NAMESPACE NAME KEY...: a Secret whose keys are the files of those names in $WORK.
secret() {
    local namespace="$1" name="$2" key
    shift 2
    local sources=()
    for key in "$@"; do
        sources+=("--from-file=$key=$WORK/$key")
    done
    "$KUBECTL" -n "$namespace" create secret generic "$name" "${sources[@]}" --dry-run=client -o yaml |
        "$KUBECTL" apply -f - >/dev/null
    log "secret $namespace/$name"
}

random() {
    # No newline: a Secret's key reaches a variable byte for byte (the Redis URL embeds one).
    openssl rand -hex "${2:-24}" | tr -d '\n' >"$WORK/$1"
}

main() {
    umask 077
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    "$KUBECTL" apply -f "$HERE/namespace.yaml" >/dev/null

    if exists "$NAMESPACE" medialens-app; then
        log "secret $NAMESPACE/medialens-app exists: kept"
        "$KUBECTL" -n "$NAMESPACE" get secret medialens-app -o 'jsonpath={.data.function-token}' |
            base64 -d >"$WORK/function-token"
    else
        for key in redis-password s3-app-secret-key function-token intake-token ui-metrics-token index-token; do
            random "$key"
        done
        random session-key 32
        "$KUBECTL" -n "$OPENFAAS_NAMESPACE" get secret basic-auth -o 'jsonpath={.data.basic-auth-password}' |
            base64 -d >"$WORK/gateway-password"
        [[ -s "$WORK/gateway-password" ]] || { echo "secrets: no $OPENFAAS_NAMESPACE/basic-auth: install OpenFaaS's chart first" >&2; exit 1; }
        secret "$NAMESPACE" medialens-app redis-password s3-app-secret-key function-token intake-token \
            ui-metrics-token index-token session-key gateway-password
    fi

    # The web app's first admin password (the web app alone reads it).
    if ! exists "$NAMESPACE" medialens-admin; then
        random admin-password 12
        secret "$NAMESPACE" medialens-admin admin-password
    fi

    # MinIO's root: the Tenant reads config.env, the store-setup Job the two keys.
    if ! exists "$NAMESPACE" medialens-store-root; then
        printf 'medialens%s' "$(openssl rand -hex 6)" >"$WORK/root-user"
        random root-password
        printf 'export MINIO_ROOT_USER="%s"\nexport MINIO_ROOT_PASSWORD="%s"\n' \
            "$(cat "$WORK/root-user")" "$(cat "$WORK/root-password")" >"$WORK/config.env"
        secret "$NAMESPACE" medialens-store-root root-user root-password config.env
    fi

    # The functions' copy of the token the workers send: the same value, under the secret's own name.
    cp "$WORK/function-token" "$WORK/$FUNCTION_TOKEN_SECRET"
    secret "$FUNCTION_NAMESPACE" "$FUNCTION_TOKEN_SECRET" "$FUNCTION_TOKEN_SECRET"
    log "sign in as 'admin' with: kubectl -n $NAMESPACE get secret medialens-admin -o jsonpath='{.data.admin-password}' | base64 -d"
}

main "$@"
