#!/usr/bin/env bash
# Nightly model retraining for logguard: export the store's events to the Parquet history,
# then train, evaluate and (when not worse) promote a new version of every model slot.
#
# DuckDB allows one process per database file, and the streaming daemon holds its file, so
# this job never opens the daemon's live file. It reads the Parquet history; the export step
# runs only against a file no process holds: LOGGUARD_EXPORT_DB is a snapshot of the store
# (a copy taken while the daemon was stopped, or a shard no daemon runs on). Leave it empty
# when the history is already written by another step.
#
# Every path comes from an environment variable with a default:
#   LOGGUARD_BIN         logguard executable            (default: logguard on PATH)
#   LOGGUARD_HOME        base folder                    (default: /var/lib/logguard)
#   LOGGUARD_HISTORY     Parquet history                (default: $LOGGUARD_HOME/history)
#   LOGGUARD_MODELS      model registry (daemon --models) (default: $LOGGUARD_HOME/models)
#   LOGGUARD_REPORTS     where reports go               (default: $LOGGUARD_HOME/reports)
#   LOGGUARD_EXPORT_DB   DuckDB snapshot to export      (default: empty = skip the export)
#   LOGGUARD_FEEDBACK_DB DuckDB snapshot with analyst verdicts (default: LOGGUARD_EXPORT_DB)
#   LOGGUARD_DAYS        days of history incl. the evaluation day (default: 7)
#   LOGGUARD_SOURCES     space-separated sources to retrain (default: every slot)
#   LOGGUARD_DRY_RUN     1 = evaluate only, promote nothing (default: 0)
#   LOGGUARD_RETRAIN_ARGS more `logguard retrain` flags, e.g. "--budget 2 --set process/ape.epochs=30"
set -euo pipefail

bin=${LOGGUARD_BIN:-logguard}
home=${LOGGUARD_HOME:-/var/lib/logguard}
history=${LOGGUARD_HISTORY:-$home/history}
models=${LOGGUARD_MODELS:-$home/models}
reports=${LOGGUARD_REPORTS:-$home/reports}
export_db=${LOGGUARD_EXPORT_DB:-}
feedback_db=${LOGGUARD_FEEDBACK_DB:-$export_db}
days=${LOGGUARD_DAYS:-7}
sources=${LOGGUARD_SOURCES:-}
dry_run=${LOGGUARD_DRY_RUN:-0}
read -r -a extra <<< "${LOGGUARD_RETRAIN_ARGS:-}"

mkdir -p "$history" "$models" "$reports"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$reports/retrain-$stamp.json"

if [[ -n "$export_db" ]]; then
    since=$(date -u -d "$days days ago" +%Y-%m-%d)
    echo "exporting $export_db (days since $since) to $history"
    "$bin" export --db "$export_db" --out "$history" --since "$since"
fi

args=(retrain --history "$history" --models "$models" --days "$days" --report "$report")
for source in $sources; do
    args+=(--source "$source")
done
if [[ -n "$feedback_db" ]]; then
    args+=(--feedback-db "$feedback_db")
fi
if [[ "$dry_run" == "1" ]]; then
    args+=(--dry-run)
fi
args+=("${extra[@]}")
"$bin" "${args[@]}"
ln -sfn "$(basename "$report")" "$reports/retrain-latest.json"
