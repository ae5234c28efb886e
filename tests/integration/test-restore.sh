#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Restores (Manager.Restore, the Restore object) with every component real: the agent run by
# systemd from its installed unit, polkitd, etcd 3.4.23 as user etcd on an etcd:etcd 0700 data dir,
# a kube-apiserver stand-in unit. A user polkit allows restores by plain busctl: the keys written
# after the backup are gone, the ones from before are back, the stand-in stopped before etcd and
# started after it, the revision is the backup's plus the bump with everything older compacted
# (a watch opened before is cancelled), new writes work, the data is etcd's. A denied user,
# unknown options, a corrupt backup, a full file system and a missing restore tool touch
# nothing; etcd or the control plane failing on the restored data rolls back to the old data; a
# dry run and a cancelled restore leave nothing behind; a restore makes the agent Busy, and is
# reported by the Manager and in the journal.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
sandbox_enter "$@"
plan_begin

restore_setup
restore_journal_on

# The backup: 20 keys and one more; after it, a new key, a changed one and a deleted one.
sandbox_etcd_put_keys 20
etcdctl_s put /registry/before v1 >/dev/null
backup=$(ctl backup)
rev_b=$(backup_revision "$backup")
ok "a backup at revision $rev_b" test "$rev_b" -gt 1
etcdctl_s put /registry/after v2 >/dev/null
etcdctl_s put /registry/test/key-000001 changed >/dev/null
etcdctl_s del /registry/test/key-000002 >/dev/null
rev_live=$(etcd_revision)
keys_backup=$(printf '%s\n' /registry/before $(seq -f '/registry/test/key-%06g' 1 20) | sort)

# The Manager's signals and properties, as a client sees them.
gdbus monitor --system --dest "$AGENT_NAME" >"$T/monitor.out" 2>&1 &
monitor=$!
sandbox_on_exit bash -c "kill $monitor 2>/dev/null"
# A watcher of the old data, as kube-apiserver's informers are.
etcdctl_s watch --prefix /registry >"$T/watch.out" 2>&1 &
watcher=$!
sandbox_on_exit bash -c "kill $watcher 2>/dev/null"
etcdctl_s put /registry/watched x >/dev/null
wait_until 10 grep -q /registry/watched "$T/watch.out" || diag "the watch saw no event"
etcdctl_s del /registry/watched >/dev/null
keys_live=$(etcd_keys /registry)

etcd_inv=$(invocation etcd.service)
standin_inv=$(invocation "$STANDIN_UNIT")
member_inode=$(stat -c %i "$DATA_DIR/member")

# ---- refused: nothing happens ----------------------------------------------------------------

is "$(restore_error --as "$DENIED" "$backup")" org.freedesktop.DBus.Error.AccessDenied \
    "a user polkit denies is refused with AccessDenied"
is "$(restore_error --as "$OUTSIDER" "$backup")" org.freedesktop.DBus.Error.InteractiveAuthorizationRequired \
    "  a user no rule allows needs to authenticate as an admin (auth_admin), which this call does not allow"
is "$(restore_error "$(cat /proc/sys/kernel/random/uuid)")" "$E.NoSuchBackup" "an unknown backup is NoSuchBackup"
is "$(restore_error "../x")" "$E.InvalidName" "  a backup id that cannot be one is InvalidName"
is "$(restore_error "$backup" '{"Bogus": <true>}')" org.freedesktop.DBus.Error.InvalidArgs \
    "an unknown option is InvalidArgs"
is "$(restore_error "$backup" '{"RevisionBump": <uint32 5>}')" org.freedesktop.DBus.Error.InvalidArgs \
    "  and so is RevisionBump of the wrong type (u, not t)"
is "$(restore_error "$backup" '{"DryRun": <"yes">}')" org.freedesktop.DBus.Error.InvalidArgs \
    "  and DryRun as a string"
is "$(restore_error "$backup" '{"StartTimeoutSec": <int64 5>}')" org.freedesktop.DBus.Error.InvalidArgs \
    "  and StartTimeoutSec as x"
is "$(etcd_keys /registry)" "$keys_live" "  none of them touched etcd's keys"
is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$etcd_inv $standin_inv" \
    "  nor restarted etcd or the control plane (InvocationIDs unchanged)"
is "$(ctl --json list-restores | jq length)" 0 "  nor made a Restore object"

# ---- the restore, by a user polkit allows ----------------------------------------------------

# Held in starting-control-plane for a moment, to see the agent while it restores.
hold pre "$STANDIN_UNIT"
: >"$STANDIN_LOG"
t_call=$(awk '{printf "%d", $1 * 1000000}' /proc/uptime)
path=$(restore_start --as "$RESTORER" "$backup") || sandbox_bail "Restore() as $RESTORER failed"
ok "Restore() by plain busctl as $RESTORER answers an object path" test -n "$path"
id=$(rprop "$path" Id)
ok "  below /org/etcdbackup/Agent1/restore/" test "${path#/org/etcdbackup/Agent1/restore/}" != "$path"
is "$(busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" GetRestore s "$id")" "o \"$path\"" \
    "  GetRestore(Id) answers the same path"
is "$(rprop "$path" Backup)" "$backup" "  Backup is the backup's id"
is "$(rprop "$path" Revision)" "$rev_b" "  Revision is the backup's"
ok "the restore gets to starting-control-plane" restore_wait_phase "$path" starting-control-plane 90
is "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" State)" 's "restoring"' \
    "  meanwhile the Manager's State is restoring"
is "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" RunningRestore)" "o \"$path\"" \
    "  and RunningRestore is the restore"
is "$(call_error "$AGENT_PATH" "$AGENT_MANAGER.StartBackup" default)" "$E.Busy" "  StartBackup answers Busy"
is "$(restore_error "$backup")" "$E.Busy" "  a second Restore answers Busy"
is "$(call_error "$path" "$RESTORE_IFACE.Cancel")" "$E.NotCancellable" "  Cancel answers NotCancellable: things are stopped"
release
is "$(restore_wait "$path" 120)" completed "the restore completed"
is "$(rprop "$path" ErrorName)" "" "  without an ErrorName"
[[ $(rprop "$path" Phase) == completed ]] || diag "Error: $(rprop "$path" Error)"

is "$(etcd_get /registry/after)" "" "the key written after the backup is gone"
is "$(etcd_get /registry/test/key-000001)" value-000001 "  the changed key has its old value"
is "$(etcd_get /registry/test/key-000002)" value-000002 "  the deleted key is back"
is "$(etcd_keys /registry)" "$keys_backup" "  the keys are the backup's, no more, no fewer"

# The order, by the stand-in's log (CLOCK_MONOTONIC ns) and systemd's timestamps of etcd (us).
stop_ns=$(standin_events exit | tail -n1)
start_ns=$(standin_events start | tail -n1)
ready_ns=$(standin_events ready | tail -n1)
etcd_left=$(unit_ts etcd.service ActiveExitTimestampMonotonic)     # etcd's stop began
etcd_ready=$(unit_ts etcd.service ActiveEnterTimestampMonotonic)   # etcd serves again
ok "the stand-in stopped during the restore" test -n "$stop_ns" -a "$(( ${stop_ns:-0} / 1000 ))" -gt "$t_call"
ok "  before etcd's stop began" test "$(( ${stop_ns:-0} / 1000 ))" -lt "$etcd_left"
ok "  and started again after etcd was active" test -n "$start_ns" -a "$(( ${start_ns:-0} / 1000 ))" -gt "$etcd_ready"
ok "  and is ready" test -n "$ready_ns"
ok "  it never saw etcd gone (it was stopped first)" not grep -q etcd-lost "$STANDIN_LOG"
ok "etcd and the stand-in are active" active etcd.service
ok "  the stand-in" active "$STANDIN_UNIT"
ok "  both were restarted" test "$(invocation etcd.service)" != "$etcd_inv" -a "$(invocation "$STANDIN_UNIT")" != "$standin_inv"

downtime=$(rprop "$path" DowntimeUSec)
ok "DowntimeUSec is set ($downtime us)" test "$downtime" -gt 0
ok "  and at least as long as the stand-in was down" \
    test "$downtime" -ge "$(( (ready_ns - stop_ns) / 1000 - 1000000 ))"
prev=$(rprop "$path" PreviousData)
is "$prev" "$DATA_DIR/member.before-restore-$id" "PreviousData is member.before-restore-ID in the data dir"
is "$(stat -c %i "$prev" 2>&1)" "$member_inode" "  and it is the member dir etcd ran on before"
ok "  with the old data in it" test -f "$prev/snap/db"
is "$(restore_leftovers)" "member.before-restore-$id" "  no staging dir is left"
ok "Started and Finished are set" test "$(rprop "$path" Started)" -gt 0 -a "$(rprop "$path" Finished)" -ge "$(rprop "$path" Started)"
is "$(rprop "$path" DryRun)" false "DryRun is false"
is "$(rprop "$path" Resumed)" false "Resumed is false"

# ---- the revision bump -----------------------------------------------------------------------

is "$(rprop "$path" RevisionBump)" "$BUMP_DEFAULT" "RevisionBump is 10^9 by default"
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT ))" "etcd's revision is the backup's plus 10^9"
ok "a read at the backup's revision answers compacted" grep -q compacted <<<"$(etcd_read_at "$rev_b" /registry/before)"
ok "  and one at the newest revision before the restore too" grep -q compacted <<<"$(etcd_read_at "$rev_live" /registry/before)"
ok "the watch opened before the restore ends, cancelled as compacted" wait_until 30 not kill -0 "$watcher"
ok "  saying so" grep -q compacted "$T/watch.out"
[[ $TAP_LAST_RC == 0 ]] || diag "$(tail -n 5 "$T/watch.out")"
ok "new writes work" etcdctl_s put /registry/new y
is "$(etcd_revision)" "$(( rev_b + BUMP_DEFAULT + 1 ))" "  at the next revision"
is "$(stat -c '%U:%G %a' "$DATA_DIR/member")" "etcd:etcd 700" "the new member dir is etcd:etcd 0700, like the old one"
is "$(find "$DATA_DIR/member" \( ! -user etcd -o ! -group etcd \) -printf '%P\n')" "" "  and so is everything in it"
is "$(find "$DATA_DIR/member" -type f -perm /077 -printf '%P\n')" "" "  no file in it is open to others"
is "$(stat -c '%U:%G %a' "$DATA_DIR")" "etcd:etcd 700" "the data dir itself is as it was"

# The Manager's reporting.
is "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" State)" 's "idle"' "the Manager is idle again"
is "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" RunningRestore)" 'o "/"' "  RunningRestore is /"
ok "  it sent RestoreFinished(id, path, completed)" \
    grep -q "RestoreFinished ('$id', objectpath '$path', 'completed')" "$T/monitor.out"
ok "  and PropertiesChanged of State restoring" grep -q "'State': <'restoring'>" "$T/monitor.out"
ok "  and of the Restore's Phase, phase by phase" \
    bash -c "for p in verifying staging stopping swapping starting-etcd starting-control-plane completed; do grep -q \"'Phase': <'\$p'>\" $T/monitor.out || exit 1; done"
ok "the journal has its phases with RESTORE_ID= and BACKUP_ID=" \
    test "$(jctl -o cat RESTORE_ID="$id" BACKUP_ID="$backup" | wc -l)" -ge 7
ok "  and a MESSAGE_ID= on each" \
    test "$(jctl -o export RESTORE_ID="$id" | grep -c '^MESSAGE_ID=')" -ge 7
ok "  the completion names the downtime" bash -c "journalctl --directory=/run/log/journal --no-pager -o cat RESTORE_ID=$id | grep -qi complet"
ok "  the phases carry PHASE=" bash -c "journalctl --directory=/run/log/journal --no-pager -o export RESTORE_ID=$id | grep -qx PHASE=starting-etcd"
prom=/var/lib/prometheus/node-exporter/etcd_backup.prom
if [ -d "${prom%/*}" ]; then
    ok "  the metrics count it among the completed restores" \
        wait_until 10 grep -qx 'etcd_backup_restores_total{result="completed"} 1' "$prom"
else
    skip "  the metrics count it" "no ${prom%/*} (prometheus-node-exporter, tools/packages.txt, makes it)"
fi
ok "a backup can be taken again" ctl backup

# ---- RevisionBump=0 --------------------------------------------------------------------------

etcdctl_s put /registry/after-0 v >/dev/null
backup0=$(ctl backup)
rev_b0=$(backup_revision "$backup0")
etcdctl_s put /registry/after-1 v >/dev/null
path0=$(restore_start "$backup0" 1 RevisionBump t 0) || true
is "$(restore_wait "$path0" 120)" completed "a restore with RevisionBump=0 completes"
is "$(rprop "$path0" RevisionBump)" 0 "  RevisionBump is 0"
is "$(etcd_revision)" "$rev_b0" "  etcd's revision is the backup's"
ok "  a read at an older revision is not compacted" not grep -q compacted <<<"$(etcd_read_at "$(( rev_b0 - 1 ))" /registry/before)"
is "$(etcd_get /registry/after-1)" "" "  the key written after that backup is gone"
is "$(etcd_get /registry/after-0)" v "  the one before it is there"
is "$(restore_leftovers)" "member.before-restore-$(rprop "$path0" Id)" \
    "  only this restore's previous data is kept (the former one is removed)"

# ---- failures before anything stops: nothing changes ---------------------------------------

# unchanged DESC: after a failed restore nothing stopped and nothing on disk changed.
unchanged() {
    is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$etcd_inv $standin_inv" \
        "  etcd and the stand-in were never stopped (InvocationIDs unchanged)"
    is "$(data_dir_listing)" "$listing" "  the data dir is as it was"
    is "$(etcd_keys /registry)" "$keys_live" "  etcd serves the same keys"
    is "$(rprop "$1" DowntimeUSec)" 0 "  DowntimeUSec is 0"
}
# before: what a failed restore must leave as it is
before() {
    etcd_inv=$(invocation etcd.service)
    standin_inv=$(invocation "$STANDIN_UNIT")
    listing=$(data_dir_listing)
    keys_live=$(etcd_keys /registry)
}

etcdctl_s put /registry/after v2 >/dev/null

# A corrupt backup: one byte of the compressed snapshot flipped.
bad=$(ctl backup)
bad_file=$(ls "$STORAGE"/*"$bad".db.zst)
size=$(stat -c %s "$bad_file")
printf '\xff' | dd of="$bad_file" bs=1 seek=$(( size - 40 )) conv=notrunc status=none
before
p=$(restore_start "$bad") || true
is "$(restore_wait "$p" 60)" failed "a corrupt backup: failed"
is "$(rprop "$p" ErrorName)" "$E.BackupCorrupt" "  ErrorName BackupCorrupt"
unchanged "$p"

# A missing restore tool.
restore_agent_conf "[Etcd]
RestoreCommand=/nonexistent"
before
p=$(restore_start "$backup") || true
is "$(restore_wait "$p" 60)" failed "RestoreCommand=/nonexistent: failed"
is "$(rprop "$p" ErrorName)" "$E.RestoreToolFailed" "  ErrorName RestoreToolFailed"
unchanged "$p"
restore_agent_conf

# A full file system: the data dir on a tmpfs of its own, with room for etcd (whose WAL
# preallocates 64 MiB segments), then filled up to 20 MiB by a file beside the member dir.
systemctl --user stop "$STANDIN_UNIT" etcd.service
mkdir -p "$T/small"
mount -t tmpfs -o size=300m,mode=0700,uid="$(id -u etcd)",gid="$(id -g etcd)" tmpfs "$T/small"
cp -a "$DATA_DIR/member" "$T/small/"
mount --move "$T/small" "$DATA_DIR"
_SANDBOX_MOUNTS+=("$DATA_DIR")
systemctl --user start etcd.service "$STANDIN_UNIT"
fallocate -l $(( $(df -B1 --output=avail "$DATA_DIR" | tail -n1) - 20 * 1024 * 1024 )) "$DATA_DIR/filler"
agent_restart   # its mount namespace is made at its start: now it sees the tmpfs
diag "free on the small data dir: $(df -h --output=avail "$DATA_DIR" | tail -n1)"
before
p=$(restore_start "$backup") || true
is "$(restore_wait "$p" 60)" failed "a full file system for the staged data: failed"
is "$(rprop "$p" ErrorName)" "$E.NoSpace" "  ErrorName NoSpace"
unchanged "$p"
systemctl --user stop "$STANDIN_UNIT" etcd.service
umount "$DATA_DIR"
systemctl --user start etcd.service "$STANDIN_UNIT"
agent_restart

# A member dir that is its own mount point (a bind mount of itself, as a volume per member dir
# would be): the swap could not rename it, so it is refused before the stop.
systemctl --user stop "$STANDIN_UNIT" etcd.service
mount --bind "$DATA_DIR/member" "$DATA_DIR/member"
_SANDBOX_MOUNTS+=("$DATA_DIR/member")
systemctl --user start etcd.service "$STANDIN_UNIT"
agent_restart
before
p=$(restore_start "$backup") || true
is "$(restore_wait "$p" 60)" failed "a member dir that is a mount point: failed"
is "$(rprop "$p" Error | grep -c "member is a mount point")" 1 "  the error says why (Error names the mount point)"
unchanged "$p"
systemctl --user stop "$STANDIN_UNIT" etcd.service
umount "$DATA_DIR/member"
systemctl --user start etcd.service "$STANDIN_UNIT"
agent_restart

# ---- failures after the stop: rolled back ---------------------------------------------------

# rolled_back PATH DESC : the old data is served again, by etcd and the stand-in, from the old dir.
rolled_back() {
    is "$(restore_wait "$1" 180)" rolled-back "$2: rolled-back"
    ok "  with an ErrorName" test -n "$(rprop "$1" ErrorName)"
    diag "  $(rprop "$1" ErrorName): $(rprop "$1" Error)"
    is "$(stat -c %i "$DATA_DIR/member")" "$member_inode" "  etcd's member dir is the old one again"
    is "$(etcd_keys /registry)" "$keys_live" "  etcd serves the old keys again"
    is "$(etcd_get /registry/after)" v2 "  the key written after the backup is there"
    ok "  etcd is active" active etcd.service
    ok "  the stand-in is active" active "$STANDIN_UNIT"
    is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staging dir is left"
    is "$(rprop "$1" PreviousData)" "" "  PreviousData is empty"
    ok "  DowntimeUSec is set" test "$(rprop "$1" DowntimeUSec)" -gt 0
}

# etcd that cannot start on the restored data: a drop-in refuses any member dir but the old one.
member_inode=$(stat -c %i "$DATA_DIR/member")
before
printf '[Service]\nExecStartPre=/bin/sh -c "test $$(stat -c %%%%i %s/member) = %s"\n' "$DATA_DIR" "$member_inode" \
    >"$USER_UNIT_DIR/etcd.service.d/60-only-old-data.conf"
systemctl --user daemon-reload
p=$(restore_start "$backup") || true
rolled_back "$p" "etcd that cannot start on the restored data"
rm "$USER_UNIT_DIR/etcd.service.d/60-only-old-data.conf"
systemctl --user daemon-reload

# A control-plane unit that fails to start once (the rollback starts it again).
before
standin_switch fail-start once
p=$(restore_start "$backup") || true
rolled_back "$p" "a control-plane unit that fails to start"
is "$(rprop "$p" ErrorName)" "$E.UnitFailed" "  ErrorName UnitFailed"
standin_switch_off fail-start

# ---- a dry run and a cancelled restore -------------------------------------------------------

before
p=$(restore_start "$backup" 1 DryRun b true) || true
is "$(restore_wait "$p" 60)" completed "a dry run completes"
is "$(rprop "$p" DryRun)" true "  DryRun is true"
unchanged "$p"
is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staged data is left"
is "$(rprop "$p" PreviousData)" "" "  PreviousData is empty"

before
hold pre 'etcd-backup-restore-*-stage*'
p=$(restore_start "$backup") || true
ok "a restore held in staging" wait_until 30 held 'pre etcd-backup-restore-.*-stage'
is "$(rprop "$p" Phase)" staging "  is in phase staging"
is "$(call_error "$p" "$RESTORE_IFACE.Cancel")" none "  Cancel() is accepted"
release
is "$(restore_wait "$p" 60)" failed "  the restore ends failed"
is "$(rprop "$p" ErrorName)" "$E.Cancelled" "  ErrorName Cancelled"
unchanged "$p"
is "$(restore_leftovers | grep -v '^member.before-restore-')" "" "  no staged data is left"
ok "Cancel of a finished restore is refused (NotRunning or NotCancellable)" \
    grep -qxE "$E.(NotRunning|NotCancellable)" <<<"$(call_error "$p" "$RESTORE_IFACE.Cancel")"

# ---- kept across a restart -------------------------------------------------------------------

n=$(ctl --json list-restores | jq length)
agent_restart
is "$(ctl --json list-restores | jq length)" "$n" "after a restart the agent lists every restore"
is "$(rprop "$path" Phase)" completed "  the first one still completed"
is "$(rprop "$path" DowntimeUSec)" "$downtime" "  with its downtime"
ok "  none is running" test "$(busctl --system get-property "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" RunningRestore)" = 'o "/"'

restore_sane
