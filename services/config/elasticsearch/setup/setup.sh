#!/usr/bin/env bash
# es-setup (one-shot, the docker-elk pattern): built-in and lab users, their roles, and the index
# template for srelab-logs-*, all from the passwords in compose/.env. Idempotent: every call is a
# PUT/POST that creates or updates, so it runs on every `make up`.
set -euo pipefail

ES_URL="${ELASTICSEARCH_URL:-http://elasticsearch:9200}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf '[es-setup] %s\n' "$*"; }
die() { printf '[es-setup] error: %s\n' "$*" >&2; exit 1; }

[[ -n "${ELASTIC_PASSWORD:-}" ]] || die "ELASTIC_PASSWORD is empty (compose/.env)"

# JSON string literal for a password (escapes backslash and double quote).
json_string() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }

# es METHOD PATH [BODY]: call Elasticsearch as `elastic`; fail with its answer unless 2xx.
es() {
  local method=$1 path=$2 body=${3:-} out code
  out=$(curl -sS -m 20 -u "elastic:${ELASTIC_PASSWORD}" -X "$method" \
    -H 'Content-Type: application/json' ${body:+--data-binary "$body"} \
    -w $'\n%{http_code}' "${ES_URL}${path}") || die "$method $path: curl failed"
  code=${out##*$'\n'}
  [[ $code == 2* ]] || die "$method $path -> HTTP $code: ${out%$'\n'*}"
}

log "waiting for Elasticsearch at ${ES_URL}"
for attempt in $(seq 1 60); do
  if curl -fsS -m 5 -o /dev/null -u "elastic:${ELASTIC_PASSWORD}" "${ES_URL}/_cluster/health?wait_for_status=yellow&timeout=5s"; then
    break
  fi
  (( attempt == 60 )) && die "Elasticsearch not reachable after 60 attempts"
  sleep 2
done

log "password of built-in user kibana_system"
[[ -n "${KIBANA_SYSTEM_PASSWORD:-}" ]] || die "KIBANA_SYSTEM_PASSWORD is empty (compose/.env)"
es POST /_security/user/kibana_system/_password "{\"password\": $(json_string "$KIBANA_SYSTEM_PASSWORD")}"

for role_file in "$HERE"/roles/*.json; do
  role=$(basename "$role_file" .json)
  log "role ${role}"
  es PUT "/_security/role/${role}" "$(cat "$role_file")"
done

# user -> role; password variable
declare -A user_role=([logstash_internal]=logstash_writer [grafana_reader]=srelab_logs_reader)
declare -A user_password=([logstash_internal]="${LOGSTASH_INTERNAL_PASSWORD:-}" [grafana_reader]="${GRAFANA_ELASTIC_PASSWORD:-}")
for user in "${!user_role[@]}"; do
  password=${user_password[$user]}
  [[ -n $password ]] || die "no password for ${user} in compose/.env"
  log "user ${user} (role ${user_role[$user]})"
  es PUT "/_security/user/${user}" \
    "{\"password\": $(json_string "$password"), \"roles\": [\"${user_role[$user]}\"], \"full_name\": \"srelab ${user}\"}"
done

log "index template srelab-logs"
es PUT /_index_template/srelab-logs "$(cat "$HERE/index-template.json")"

log "done"
