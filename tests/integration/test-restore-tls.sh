#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Restores through etcd-backupctl with etcd requiring client certificates (mTLS), every
# component real: `restore ID` prints each phase and exits 0 once completed (3 when rolled
# back), --json prints the Restore, restore-status and list-restores show it; a backup file of
# another agent's storage imported with `import FILE`, then restored; `cancel-restore` while it
# stages; NotCancellable once the control plane is stopped.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
sandbox_enter "$@"
plan_begin

META=$(dirname "$0")/lib/backup-meta.py
restore_setup --tls
ok "etcd requires a client certificate" not env ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINT" \
    --cacert="$ETCD_CACERT" --command-timeout=3s get /x

sandbox_etcd_put_keys 10
etcdctl_s put /registry/before v1 >/dev/null
backup=$(ctl backup)
rev_b=$(backup_revision "$backup")
keys_backup=$(etcd_keys /registry)
etcdctl_s put /registry/after v2 >/dev/null

# ---- etcd-backupctl restore ----------------------------------------------------------------

out=$(ctl restore "$backup" 2>"$T/restore.err") && rc=0 || rc=$?
is "$rc" 0 "etcd-backupctl restore ID over mTLS exits 0"
[[ $rc == 0 ]] || diag "$out" "$(cat "$T/restore.err")"
for phase in verifying staging stopping swapping starting-etcd starting-control-plane completed; do
    ok "  it printed the phase $phase" grep -q "^$phase " <<<"$out"
done
ok "  the phases in their order" bash -c 'grep -oE "^(verifying|staging|stopping|swapping|starting-etcd|starting-control-plane|completed) " |
    tr -d " " | tr "\n" " " | grep -qx "verifying staging stopping swapping starting-etcd starting-control-plane completed "' <<<"$out"
ok "  and the downtime" grep -q "Downtime:" <<<"$out"
is "$(etcd_get /registry/after)" "" "  the key written after the backup is gone"
is "$(etcd_keys /registry)" "$keys_backup" "  the backup's keys are back"
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT ))" "  at the backup's revision plus the bump"
ok "  the stand-in runs" active "$STANDIN_UNIT"

id1=$(ctl --json list-restores | jq -r '.[0].id')
st=$(ctl --json restore-status "$id1")
is "$(jq -r .phase <<<"$st")" completed "restore-status --json: phase completed"
is "$(jq -r .backup <<<"$st")" "$backup" "  backup"
is "$(jq -r .revision <<<"$st")" "$rev_b" "  revision"
is "$(jq -r .revision_bump <<<"$st")" "$BUMP_DEFAULT" "  revision_bump"
ok "  downtime_usec > 0" test "$(jq -r .downtime_usec <<<"$st")" -gt 0
is "$(jq -r .previous_data <<<"$st")" "$DATA_DIR/member.before-restore-$id1" "  previous_data"
is "$(jq -r .data_dir <<<"$st")" "$DATA_DIR" "  data_dir"
is "$(jq -r .etcd_unit <<<"$st")" etcd.service "  etcd_unit"
is "$(jq -c .units <<<"$st")" "[\"$STANDIN_UNIT\"]" "  units"
is "$(jq -r .dry_run <<<"$st")" false "  dry_run"

# --json: the one document on standard output is the finished restore.
etcdctl_s put /registry/after v3 >/dev/null
json=$(ctl --json restore --revision-bump=5000 "$backup" 2>/dev/null) && rc=0 || rc=$?
is "$rc" 0 "restore --json --revision-bump=5000 exits 0"
is "$(jq -r .phase <<<"$json")" completed "  .phase completed"
is "$(jq -r .revision_bump <<<"$json")" 5000 "  .revision_bump 5000"
is "$(etcd_revision)" "$(( rev_b + 5000 ))" "  etcd's revision is the backup's plus 5000"
is "$(jq -S -c . <<<"$json")" "$(ctl --json restore-status "$(jq -r .id <<<"$json")" | jq -S -c .)" \
    "  the same document restore-status --json prints"
is "$(ctl --json list-restores | jq length)" 2 "list-restores --json lists both"

# A rolled-back restore exits 3.
etcdctl_s put /registry/after v4 >/dev/null
standin_switch fail-start once
ctl restore "$backup" >"$T/rb.out" 2>&1 && rc=0 || rc=$?
is "$rc" 3 "a restore that is rolled back exits 3"
ok "  it printed rolling-back and rolled-back" grep -q "^rolled-back " "$T/rb.out"
is "$(etcd_get /registry/after)" v4 "  the old data is served"
standin_switch_off fail-start

# ---- import of another agent's backup, then a restore of it --------------------------------

etcdctl_s put /registry/imported yes >/dev/null
other=$(ctl backup)
foreign_id=$(cat /proc/sys/kernel/random/uuid)
cp "$(ls "$STORAGE"/*"$other".db.zst)" "$T/other-node.db.zst"
python3 "$META" "$T/other-node.db.zst" "ID=$foreign_id" CONFIG=node-b NODE=node-b >/dev/null
chmod 644 "$T/other-node.db.zst"
ctl delete-backup "$other" >/dev/null
etcdctl_s del /registry/imported >/dev/null
etcdctl_s put /registry/after v5 >/dev/null
is "$(ctl import "$T/other-node.db.zst")" "$foreign_id" "etcd-backupctl import FILE stores it under its own id"
out=$(ctl restore "$foreign_id" 2>&1) && rc=0 || rc=$?
is "$rc" 0 "  restoring it exits 0"
[[ $rc == 0 ]] || diag "$out"
is "$(etcd_get /registry/imported)" yes "  its keys are served"
is "$(etcd_get /registry/after)" v4 "  as they were when it was taken"

# ---- cancel-restore --------------------------------------------------------------------------

inv="$(invocation etcd.service) $(invocation "$STANDIN_UNIT")"
hold pre 'etcd-backup-restore-*-stage*'
rid=$(ctl --no-wait restore "$backup")
ok "restore --no-wait prints the id at once" test -n "$rid"
ok "  the restore is held in staging" wait_until 30 held 'pre etcd-backup-restore-.*-stage'
ctl cancel-restore "$rid" >"$T/cancel.out" 2>&1 &
cancel=$!
sleep 1   # the Cancel reaches the agent while the stage step is held
release
wait "$cancel" && rc=0 || rc=$?
is "$rc" 0 "etcd-backupctl cancel-restore exits 0"
[[ $rc == 0 ]] || diag "$(cat "$T/cancel.out")"
st=$(ctl --json restore-status "$rid")
is "$(jq -r .phase <<<"$st")" failed "  the restore failed"
is "$(jq -r .error_name <<<"$st")" "$E.Cancelled" "  Cancelled"
is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$inv" "  nothing was stopped"
is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staged data is left"

hold pre "$STANDIN_UNIT"
rid=$(ctl --no-wait restore "$backup")
wait_until 90 held "pre $STANDIN_UNIT" || diag "never held at the stand-in's start"
ctl cancel-restore "$rid" >"$T/cancel2.out" 2>&1 && rc=0 || rc=$?
ok "cancel-restore once the control plane is stopped fails" test "$rc" -ne 0
ok "  saying it cannot be cancelled" grep -qi "cancel" "$T/cancel2.out"
p=$(busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" GetRestore s "$rid" | cut -d' ' -f2 | tr -d '"')
is "$(call_error "$p" "$RESTORE_IFACE.Cancel")" "$E.NotCancellable" "  Cancel() is NotCancellable"
release
is "$(restore_wait "$p" 120)" completed "  the restore completes"

restore_sane
