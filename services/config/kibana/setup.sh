#!/usr/bin/env bash
# kibana-setup (one-shot): imports the data view, saved search and dashboard from kibana/*.ndjson
# through Kibana's saved objects API, overwriting what is there (the files are the source of truth).
set -euo pipefail

KIBANA_URL="${KIBANA_URL:-http://kibana:5601}"
OBJECTS_DIR="${OBJECTS_DIR:-/kibana}"

log() { printf '[kibana-setup] %s\n' "$*"; }
die() { printf '[kibana-setup] error: %s\n' "$*" >&2; exit 1; }

[[ -n "${ELASTIC_PASSWORD:-}" ]] || die "ELASTIC_PASSWORD is empty (compose/.env)"

log "waiting for Kibana at ${KIBANA_URL}"
for attempt in $(seq 1 90); do
  if curl -fsS -m 5 -o /dev/null -u "elastic:${ELASTIC_PASSWORD}" "${KIBANA_URL}/api/status"; then
    break
  fi
  (( attempt == 90 )) && die "Kibana not ready after 90 attempts"
  sleep 2
done

shopt -s nullglob
files=("$OBJECTS_DIR"/*.ndjson)
(( ${#files[@]} )) || die "no .ndjson files in ${OBJECTS_DIR}"
for file in "${files[@]}"; do
  log "importing $(basename "$file")"
  out=$(curl -sS -m 60 -u "elastic:${ELASTIC_PASSWORD}" -H 'kbn-xsrf: srelab' \
    -X POST "${KIBANA_URL}/api/saved_objects/_import?overwrite=true" \
    -F "file=@${file}" -w $'\n%{http_code}') || die "import of ${file}: curl failed"
  code=${out##*$'\n'}
  body=${out%$'\n'*}
  [[ $code == 200 ]] || die "import of ${file} -> HTTP ${code}: ${body}"
  grep -Eq '"success" *: *true' <<<"$body" || die "import of ${file} reported errors: ${body}"
  log "  ok: ${body}"
done
log "done"
