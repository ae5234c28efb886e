#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Manager.StopControlPlane and Manager.Rejoin on one node, everything real: the agent from its
# installed unit, etcd 3.4.23 as user etcd (its own unit, etcd.service, a member of its own
# cluster), the kube-apiserver stand-in, and beside them a second etcd (etcd-new.service) that
# plays the restored cluster of the recovery node. A rejoin pointed at a port nobody serves, at
# this node's own cluster, or at a cluster with a member still joining is refused with nothing
# stopped. stop-control-plane stops the stand-in and etcd and keeps them stopped (a start does
# nothing). The rejoin makes the node's etcd a voting member of the new cluster: the keys are
# that cluster's, HashKV is equal on both, the stand-in runs, the old member data is kept aside
# and no drop-in is left. A second rejoin, with the agent SIGKILLed while its etcd is a learner,
# is finished by the agent started again; a third, whose etcd cannot start, and a fourth, whose
# control plane cannot start once etcd was promoted, roll back: the member is removed again
# (while its etcd still runs), the old data is back in place and the node stays stopped.
# (The whole procedure across three nodes is test-cluster-restore.sh.)

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
sandbox_enter "$@"
plan_begin

restore_setup
NODE_ENDPOINT=$ETCD_ENDPOINT
NODE_PEER=$ETCD_PEER_URL
etcdctl_s put /registry/old-cluster yes >/dev/null
backup=$(ctl backup)
# Ids in hex, as etcdctl takes and prints them (jq would round them: they pass 2^53).
cluster_of() { etcdctl --endpoints="$1" endpoint status -w fields | sed -n 's/^"ClusterID" : //p' | xargs printf '%x\n'; }

# The restored cluster, as the recovery node serves it: one member.
sandbox_start_etcd etcd-new
NEW_ENDPOINT=$ETCD_ENDPOINT
etcdctl_s put /registry/restored yes >/dev/null
sandbox_etcd_put_keys 50
new_cluster=$(cluster_of "$ETCD_ENDPOINT")
sandbox_etcd_use etcd
old_cluster=$(cluster_of "$ETCD_ENDPOINT")

on_new() { etcdctl --endpoints="$NEW_ENDPOINT" "$@"; }
on_node() { etcdctl --endpoints="$NODE_ENDPOINT" "$@"; }
# "ID, STATUS, NAME, PEER ADDRS, CLIENT ADDRS, IS LEARNER"
members() { on_new member list -w simple; }
voters() { members | awk -F', ' '$6 == "false" { print $3 }' | sort | xargs; }
learners() { members | awk -F', ' '$6 == "true"' | wc -l; }
# etcd refuses to remove a voter for 5 s after the members (re)connected: again until it is gone.
_remove_member() { on_new member remove "$1" >/dev/null 2>&1; [[ -z $(node_member_id) ]]; }
# etcd 3.4 derives a member's id from its peer URLs and the second it is added, and refuses an id
# it removed: the node added, removed and added again within one second fails the second time
# ("member not found", seen in CI). A removal here, and the rollback's, is followed by a wait
# for the next second.
next_second() { local s=$(date +%s); while (( $(date +%s) == s )); do sleep 0.1; done; }
remove_member() { wait_until 30 _remove_member "$1" && next_second; }
member_id() { members | awk -F', ' -v u="$1" '$4 == u { print $1 }'; }
node_member_id() { member_id "$NODE_PEER"; }
hold_dropin() { echo "$CONTROL_DIR/$1.d/50-etcd-backup-stopped.conf"; }
rejoin_dropin=$RUNTIME_CONTROL_DIR/etcd.service.d/50-etcd-backup-restore.conf
last_restore() { ctl --json list-restores | jq -r '.[0].id'; }
rjson() { ctl --json restore-status "$(last_restore)" | jq -r "$1"; }
hashkv() { etcdctl --endpoints="$1" endpoint hashkv --rev="$2" -w fields | sed -n 's/^"Hash" : //p'; }

etcd_inv=$(invocation etcd.service)
standin_inv=$(invocation "$STANDIN_UNIT")

# ---- refused before anything stops -----------------------------------------------------------

port=$(sandbox_free_port)
not ctl rejoin --endpoint="http://127.0.0.1:$port" >"$T/down.out" 2>&1
ok "a rejoin pointed at a port nobody serves fails" true
is "$(rjson .kind) $(rjson .phase) $(rjson .error_name)" "rejoin failed org.etcdbackup.Agent1.Error.EtcdUnavailable" \
    "  in phase verifying's end: failed, EtcdUnavailable"
is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$etcd_inv $standin_inv" "  etcd and the stand-in were not touched"

not ctl rejoin --endpoint="$NODE_ENDPOINT" >"$T/own.out" 2>&1
is "$(rjson .error_name)" org.etcdbackup.Agent1.Error.WrongCluster \
    "a rejoin pointed at the cluster this node is a member of is WrongCluster"
ok "  the message says it is a member there already" grep -q "is a member of the cluster at $NODE_ENDPOINT already" "$T/own.out"
is "$(invocation etcd.service) $(invocation "$STANDIN_UNIT")" "$etcd_inv $standin_inv" "  nothing was touched"

not ctl rejoin --endpoint="$NEW_ENDPOINT" --cluster-id=1234abcd >"$T/id.out" 2>&1
is "$(rjson .error_name)" org.etcdbackup.Agent1.Error.WrongCluster "a rejoin with another --cluster-id is WrongCluster"

# A member added but not started: etcd 3.4 takes one learner at a time.
# (etcd refuses membership changes in its first seconds: again until it takes one)
_add_pending() {
    on_new member add pending --learner --peer-urls=http://127.0.0.1:9 2>"$T/pending.err" |
        sed -n 's/^Member \([0-9a-f]*\) added.*/\1/p' >"$T/pending"
    # An attempt that timed out may have been applied all the same: then it is in the list.
    [[ -s $T/pending ]] || member_id http://127.0.0.1:9 >"$T/pending"
    [[ -s $T/pending ]]
}
wait_until 30 _add_pending || sandbox_bail "etcd-new does not take a learner: $(tail -c 300 "$T/pending.err")"
pending=$(cat "$T/pending")
not ctl rejoin --endpoint="$NEW_ENDPOINT" >/dev/null 2>&1
is "$(rjson .error_name)" org.etcdbackup.Agent1.Error.Busy "a rejoin while another member joins is Busy"
is "$(invocation etcd.service)" "$etcd_inv" "  nothing was touched"
_pending_gone() { on_new member remove "$pending" >/dev/null 2>&1; ! members | grep -q "^$pending,"; }
wait_until 30 _pending_gone || sandbox_bail "etcd-new does not let the pending member go"

is "$(busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" Rejoin 'a{sv}' 0 2>&1 | grep -o 'Option Endpoint is needed')" \
    "Option Endpoint is needed" "Rejoin() without an Endpoint is refused"
is "$(call_error "$AGENT_PATH" "$AGENT_MANAGER.StopControlPlane" "{'Bogus': <'x'>}")" org.freedesktop.DBus.Error.InvalidArgs \
    "StopControlPlane() with an unknown option is InvalidArgs"
is "$(call_error --as "$DENIED" "$AGENT_PATH" "$AGENT_MANAGER.StopControlPlane" "@a{sv} {}")" org.freedesktop.DBus.Error.AccessDenied \
    "  and from a user polkit refuses the restore action, AccessDenied"
ok "  etcd still runs" active etcd.service

# ---- stop-control-plane ------------------------------------------------------------------------

t0=$(date +%s%N)
ok "stop-control-plane completes" ctl stop-control-plane
diag "stop-control-plane took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
is "$(rjson .kind) $(rjson .phase)" "stop completed" "  a Restore object of kind stop, completed"
is "$(rjson .cluster_id)" ""$old_cluster"" "  it noted the cluster the member was in"
is "$(systemctl --user is-active etcd.service "$STANDIN_UNIT" | tr '\n' ' ')" "inactive inactive " "  etcd and the stand-in are stopped"
ok "  the drop-ins that keep them stopped are there" test -f "$(hold_dropin etcd.service)" -a -f "$(hold_dropin "$STANDIN_UNIT")"
systemctl --user start etcd.service "$STANDIN_UNIT" || true
is "$(systemctl --user is-active etcd.service "$STANDIN_UNIT" | tr '\n' ' ')" "inactive inactive " \
    "  a start of either does nothing (its condition fails)"
old_inode=$(stat -c %i "$DATA_DIR/member")
not ctl restore "$backup" >"$T/held.out" 2>&1
is "$(rjson .kind) $(rjson .phase) $(rjson .error_name)" "restore failed org.etcdbackup.Agent1.Error.UnitFailed" \
    "  a restore on the stopped node is refused before it stops or stages anything"
ok "  saying the node is kept stopped, and what to do" grep -q 'kept stopped by etcd-backupctl stop-control-plane' "$T/held.out"
is "$(stat -c %i "$DATA_DIR/member")" "$old_inode" "  the member data is untouched"

# ---- the rejoin ----------------------------------------------------------------------------------

t0=$(date +%s%N)
ctl rejoin --endpoint="$NEW_ENDPOINT" >"$T/rejoin.out" 2>&1
rc=$?
diag "rejoin took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
is "$rc" 0 "rejoin --endpoint=the restored cluster exits 0"
is "$(rjson .kind) $(rjson .phase)" "rejoin completed" "  a Restore object of kind rejoin, completed"
ok "  it showed its phases" grep -q 'starting-etcd' "$T/rejoin.out"
is "$(rjson .cluster_id)" ""$new_cluster"" "  it joined the new cluster"
is "$(voters)" "etcd etcd-new" "  both are voting members of the new cluster"
is "$(learners)" 0 "  no learner is left"
is "$(cluster_of "$NODE_ENDPOINT")" "$new_cluster" "  the node's etcd serves the new cluster"
is "$(on_node get --print-value-only /registry/restored)" yes "  it serves the new cluster's keys"
is "$(on_node get --prefix --keys-only /registry/old-cluster)" "" "  and not the old cluster's"
rev=$(on_new endpoint status -w json | jq -r '.[0].Status.header.revision')
is "$(hashkv "$NODE_ENDPOINT" "$rev")" "$(hashkv "$NEW_ENDPOINT" "$rev")" "  HashKV at revision $rev is equal on both"
ok "  the stand-in runs again" active "$STANDIN_UNIT"
ok "  the old member data is kept aside, whole" test "$(stat -c %i "$DATA_DIR"/member.before-rejoin-*)" = "$old_inode"
is "$(stat -c %U:%G "$DATA_DIR/member")" etcd:etcd "  the new member dir is etcd's"
ok "  no drop-in is left" not ls "$rejoin_dropin" "$(hold_dropin etcd.service)" "$(hold_dropin "$STANDIN_UNIT")"
on_node put /registry/after-rejoin v >/dev/null
is "$(on_new get --print-value-only /registry/after-rejoin)" v "  a write through the node reaches the cluster"

# ---- SIGKILL while a learner: the agent started again finishes it --------------------------------

# Removed while both run (with one of two members stopped there is no quorum to remove it); the
# removed member's etcd then exits by itself.
remove_member "$(node_member_id)"
ctl stop-control-plane >/dev/null
ok "the node is no member of the cluster again" test -z "$(node_member_id)"
hold post etcd.service
ctl --no-wait rejoin --endpoint="$NEW_ENDPOINT" >/dev/null
ok "a second rejoin starts etcd as a learner" wait_until 60 held "post etcd.service"
is "$(learners)" 1 "  the cluster has it as its learner"
kill -KILL "$(agent_pid)"
wait_until 10 not active "$AGENT_UNIT"
release
agent_start
_phase_is() { [[ $(rjson .phase) == "$1" ]]; }
ok "  the agent started again finishes the rejoin" wait_until 120 _phase_is completed
is "$(rjson .resumed)" true "  it says it was resumed"
is "$(voters)" "etcd etcd-new" "  both are voting members"
is "$(learners)" 0 "  no learner is left"
ok "  the stand-in runs" active "$STANDIN_UNIT"

# ---- a rejoin whose etcd cannot start rolls back ------------------------------------------------

# Removed while both run (with one of two members stopped there is no quorum to remove it); the
# removed member's etcd then exits by itself.
remove_member "$(node_member_id)"
ctl stop-control-plane >/dev/null
inode=$(stat -c %i "$DATA_DIR/member")
# etcd's start fails after the learner is added (an ExecStartPre of the test's that fails).
printf '[Service]\nExecStartPre=/bin/false\n' >"$USER_UNIT_DIR/etcd.service.d/60-fail.conf"
systemctl --user daemon-reload
not ctl rejoin --endpoint="$NEW_ENDPOINT" --start-timeout=20 >"$T/fail.out" 2>&1
is "$(rjson .phase)" rolled-back "a rejoin whose etcd does not start ends rolled-back"
is "$(learners)" 0 "  the learner is removed from the cluster again"
is "$(voters)" "etcd-new" "  the cluster is as it was"
is "$(stat -c %i "$DATA_DIR/member")" "$inode" "  the old member data is back in place"
ok "  etcd stays stopped" not active etcd.service
ok "  the stand-in too" not active "$STANDIN_UNIT"
ok "  and are kept stopped" test -f "$(hold_dropin etcd.service)" -a -f "$(hold_dropin "$STANDIN_UNIT")"
ok "  the rejoin's drop-in is gone" not test -e "$rejoin_dropin"
ok "  the hint says the node is no member and kept stopped" grep -q 'kept stopped' "$T/fail.out"
rm -f "$USER_UNIT_DIR/etcd.service.d/60-fail.conf"
systemctl --user daemon-reload
next_second # after the rollback's removal

# ---- a rejoin whose control plane does not start rolls back after the promotion ------------------

# etcd joins and is promoted; then the stand-in fails to start. The member is removed while its
# etcd still runs (stopped first, it would take the two-member cluster's quorum with it).
inode=$(stat -c %i "$DATA_DIR/member")
standin_switch fail-start
not ctl rejoin --endpoint="$NEW_ENDPOINT" >"$T/fail-cp.out" 2>&1
is "$(rjson .phase) $(rjson .error_name)" "rolled-back org.etcdbackup.Agent1.Error.UnitFailed" \
    "a rejoin whose control plane does not start ends rolled-back, UnitFailed"
ok "  it had promoted the member" grep -q 'starting-control-plane' "$T/fail-cp.out"
is "$(voters)" "etcd-new" "  the member is removed from the cluster again"
ok "  the cluster has its leader and serves" on_new put /registry/after-rollback v
is "$(stat -c %i "$DATA_DIR/member")" "$inode" "  the old member data is back in place"
ok "  etcd stays stopped" not active etcd.service
ok "  and is kept stopped" test -f "$(hold_dropin etcd.service)"
standin_switch_off fail-start

restore_sane 1
