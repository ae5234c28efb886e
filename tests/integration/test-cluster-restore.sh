#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A three-member etcd cluster restored from one backup, node by node, through the CLI (issue 15,
# INTERFACE.md "Multi-member clusters"): three nodes of lib/cluster.sh, each with its own system
# bus, systemd user manager, polkitd, etcd.service (user etcd, /var/lib/etcd/default), stand-in
# kube-apiserver and agent, form one cluster; node 1 takes a backup, keys are written after it.
# Then:
#   - a rejoin pointed at a healthy cluster that is not a restored one (node 3's own) or at an
#     endpoint that is down is refused (WrongCluster, EtcdUnavailable) before anything stops;
#   - nodes 2 and 3 stop their control plane and etcd, and a start of etcd does nothing;
#   - node 1 restores the backup as a one-member cluster;
#   - node 2, then node 3 rejoin it through node 1; node 3's agent is SIGKILLed while node 3 is
#     a learner, and started again: the rejoin resumes and completes.
# Afterwards the three are voting members of one new cluster id, on every endpoint; they serve the
# backup's keys at the bumped revision with equal HashKV; each stand-in runs; the old member data
# is kept aside on nodes 2 and 3 and no drop-in of the procedure is left. Every step is timed
# (TAP diagnostics "time: ...").
#
# Until the agent has stop-control-plane and rejoin, the steps that need them are skipped, and
# nodes 2 and 3 are stopped with systemctl instead, so that node 1's restore in the three-member
# setting is still tested.
#
# shellcheck disable=SC2016  # the scripts given to node_sh expand in the node, on purpose

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
source "$(dirname "$0")/lib/restore.sh"
source "$(dirname "$0")/lib/cluster.sh"
sandbox_enter "$@"
plan_begin

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# timed NAME START_MS : the step's time as a TAP diagnostic line (the README quotes them).
timed() { diag "time: $1: $(( $(now_ms) - $2 )) ms"; }

t=$(now_ms) t_test=$(now_ms)
cluster_start
timed "three nodes up (one install, three sandboxes, etcd cluster formed)" "$t"

# ---- a. one healthy three-member cluster, a backup on node 1, keys after it ------------------

members_all=$(for n in 1 2 3; do echo "node$n ${CLUSTER_PEER[n]} voter"; done)
for n in 1 2 3; do
    is "$(cluster_members "$n")" "$members_all" "node $n: the member list has the three nodes, all voters"
done
cid_old=$(cluster_id 1)
ok "one cluster id ($cid_old)" test -n "$cid_old" -a "$(cluster_id 2)" = "$cid_old" -a "$(cluster_id 3)" = "$cid_old"
for n in 1 2 3; do
    ok "node $n: etcd and the stand-in are active" node_sh "$n" 'active etcd.service && active "$STANDIN_UNIT"'
done

node 1 sandbox_etcd_put_keys 20
ectl 1 put /registry/before v1 >/dev/null
t=$(now_ms)
backup=$(node 1 ctl backup)
timed "backup on node 1" "$t"
rev_b=$(node 1 backup_revision "$backup")
ok "a backup on node 1 at revision $rev_b" test "${rev_b:-0}" -gt 1
# After the backup, through the other members: a new key, a changed one, a deleted one.
ectl 2 put /registry/after v2 >/dev/null
ectl 3 put /registry/test/key-000001 changed >/dev/null
ectl 3 del /registry/test/key-000002 >/dev/null
keys_backup=$(printf '%s\n' /registry/before $(seq -f '/registry/test/key-%06g' 1 20) | sort)
keys_live=$(printf '%s\n' /registry/after /registry/before $(seq -f '/registry/test/key-%06g' 1 20) | grep -vx /registry/test/key-000002 | sort)
for n in 1 2 3; do
    is "$(ectl "$n" get --prefix --keys-only /registry | sed '/^$/d')" "$keys_live" "node $n serves the keys written after the backup too"
done

HAVE_REJOIN=0
# (grep reads all of it: with -q, pipefail would see etcd-backupctl's SIGPIPE)
node 1 etcd-backupctl --help | grep '^ *rejoin ' >/dev/null && HAVE_REJOIN=1
(( HAVE_REJOIN )) || diag "this etcd-backupctl has no stop-control-plane/rejoin: those steps are skipped"

# rjson N ARGS... : etcd-backupctl --json ARGS on node N (it waits for the end): the restore's JSON.
rjson() { local n=$1; shift; node "$n" ctl --json "$@" 2>>"$SANDBOX_LOG_DIR/ctl.err" || true; }
jfield() { jq -r ".$2 // \"\"" <<<"$1" 2>/dev/null; }
rejoin_leftovers() { node_sh "$1" 'find "$DATA_DIR" -mindepth 1 -maxdepth 1 -name "member.before-rejoin-*" -printf "%f\n" | sort'; }

# ---- b. refusals before anything stops --------------------------------------------------------

# state N : what a refused rejoin must leave as it is on node N.
state() {
    node_sh "$1" 'echo "$(invocation etcd.service) $(invocation "$STANDIN_UNIT") $(stat -c %i "$DATA_DIR/member")"
        systemctl --user is-active etcd.service "$STANDIN_UNIT"
        find "$DATA_DIR" -mindepth 1 -maxdepth 1 -printf "%f\n" | sort
        find "$CONTROL_DIR" "$RUNTIME_CONTROL_DIR" -type f 2>/dev/null | sort'
}
if (( HAVE_REJOIN )); then
    before3=$(state 3)
    t=$(now_ms)
    out=$(rjson 3 rejoin --endpoint="${CLUSTER_ENDPOINT[2]}")
    timed "refused rejoin (wrong cluster)" "$t"
    is "$(jfield "$out" kind) $(jfield "$out" phase)" "rejoin failed" "node 3: a rejoin through node 2 (its own, not restored, cluster) fails"
    is "$(jfield "$out" error_name)" "$E.WrongCluster" "  ErrorName WrongCluster"
    is "$(state 3)" "$before3" "  nothing stopped or changed on node 3 (InvocationIDs, member dir, data dir, drop-ins)"
    is "$(cluster_members 2)" "$members_all" "  and no member was added to node 2's cluster"

    closed=$(sandbox_free_port)
    t=$(now_ms)
    out=$(rjson 3 rejoin --endpoint="http://127.0.0.1:$closed")
    timed "refused rejoin (endpoint down)" "$t"
    is "$(jfield "$out" kind) $(jfield "$out" phase)" "rejoin failed" "node 3: a rejoin through a closed port fails"
    is "$(jfield "$out" error_name)" "$E.EtcdUnavailable" "  ErrorName EtcdUnavailable"
    is "$(state 3)" "$before3" "  nothing stopped or changed on node 3"
    is "$(cluster_members 1)" "$members_all" "  the cluster still has its three voters"
else
    skip "refused rejoins (wrong cluster, endpoint down)" "no rejoin in this etcd-backupctl"
fi

# ---- c. nodes 2 and 3 stop their control plane and etcd ---------------------------------------

declare -A etcd_inv member_inode
for n in 2 3; do
    etcd_inv[$n]=$(node "$n" invocation etcd.service)
    member_inode[$n]=$(node_sh "$n" 'stat -c %i "$DATA_DIR/member"')
    t=$(now_ms)
    if (( HAVE_REJOIN )); then
        out=$(rjson "$n" stop-control-plane)
        timed "stop-control-plane on node $n" "$t"
        is "$(jfield "$out" kind) $(jfield "$out" phase)" "stop completed" "node $n: stop-control-plane completes"
    else
        node_sh "$n" 'systemctl --user stop "$STANDIN_UNIT" etcd.service'
        timed "node $n stopped by systemctl (no stop-control-plane)" "$t"
    fi
    is "$(node_sh "$n" 'systemctl --user is-active etcd.service "$STANDIN_UNIT"')" "inactive
inactive" "node $n: etcd and the stand-in are inactive"
    if (( HAVE_REJOIN )); then
        ok "  a drop-in in the persistent control dir keeps etcd stopped" \
            node_sh "$n" 'test -f "$CONTROL_DIR/etcd.service.d/50-etcd-backup-stopped.conf"'
        ok "  and one keeps the stand-in stopped" \
            node_sh "$n" 'test -f "$CONTROL_DIR/$STANDIN_UNIT.d/50-etcd-backup-stopped.conf"'
        # (timeout: were the conditions missing, etcd would wait for a quorum, the stand-in for etcd)
        node_sh "$n" 'timeout 20 systemctl --user start etcd.service; timeout 20 systemctl --user start "$STANDIN_UNIT"' >/dev/null 2>&1 || true
        is "$(node_sh "$n" 'systemctl --user is-active etcd.service; systemctl --user show -P ConditionResult etcd.service')" "inactive
no" "  systemctl start etcd.service leaves it inactive, its condition failed"
        is "$(node "$n" systemctl --user is-active "$STANDIN_UNIT")" inactive "  and the stand-in too"
    else
        skip "  the stop drop-ins keep etcd and the stand-in stopped" "no stop-control-plane in this etcd-backupctl"
    fi
    is "$(node_sh "$n" 'stat -c %i "$DATA_DIR/member"')" "${member_inode[$n]}" "node $n: the old member dir is still in place"
    ok "  with its data" node_sh "$n" 'test -s "$DATA_DIR/member/snap/db" && ls "$DATA_DIR/member/wal" | grep -q "\.wal$"'
done

# ---- d. node 1 restores the backup as a one-member cluster ------------------------------------

t=$(now_ms)
out=$(rjson 1 restore "$backup" --initial-cluster="node1=${CLUSTER_PEER[1]}")
timed "restore on node 1" "$t"
is "$(jfield "$out" phase)" completed "node 1: the restore as a one-member cluster completes"
[[ $(jfield "$out" phase) == completed ]] || diag "$out"
is "$(jfield "$out" kind)" restore "  Kind restore"
is "$(cluster_members 1)" "node1 ${CLUSTER_PEER[1]} voter" "  the member list is node 1 alone"
cid_new=$(cluster_id 1)
ok "  a new cluster id ($cid_new, was $cid_old)" test -n "$cid_new" -a "$cid_new" != "$cid_old"
is "$(ectl 1 get --prefix --keys-only /registry | sed '/^$/d')" "$keys_backup" "  node 1 serves the backup's keys, not the later ones"
is "$(ectl 1 get --print-value-only /registry/test/key-000001)" value-000001 "  the key changed after the backup has its old value"
rev_1=$(ectl 1 endpoint status -w json | jq -r '.[0].Status.header.revision')
ok "  the revision is bumped ($rev_1 >= $rev_b + $BUMP_DEFAULT)" test "${rev_1:-0}" -ge $(( rev_b + BUMP_DEFAULT ))
ok "  the stand-in is active" node 1 active "$STANDIN_UNIT"

# ---- e. node 2, then node 3 rejoin through node 1 ---------------------------------------------

if (( HAVE_REJOIN )); then
    # The restored cluster, but not the cluster id the operator expects: refused, node 2 stays
    # as stop-control-plane left it.
    before2=$(state 2)
    out=$(rjson 2 rejoin --endpoint="${CLUSTER_ENDPOINT[1]}" --cluster-id=123abc)
    is "$(jfield "$out" phase) $(jfield "$out" error_name)" "failed $E.WrongCluster" \
        "node 2: a rejoin through node 1 expecting another cluster id fails with WrongCluster"
    is "$(state 2)" "$before2" "  nothing changed on node 2 (still stopped and held, old member dir in place)"
    is "$(cluster_members 1)" "node1 ${CLUSTER_PEER[1]} voter" "  and node 1's cluster still has node 1 alone"

    t=$(now_ms)
    out=$(rjson 2 rejoin --endpoint="${CLUSTER_ENDPOINT[1]}" --cluster-id="$cid_new")
    timed "rejoin of node 2" "$t"
    is "$(jfield "$out" kind) $(jfield "$out" phase)" "rejoin completed" "node 2: the rejoin through node 1 completes"
    [[ $(jfield "$out" phase) == completed ]] || diag "$out"
    is "$(cluster_members 1)" "$(printf 'node1 %s voter\nnode2 %s voter' "${CLUSTER_PEER[1]}" "${CLUSTER_PEER[2]}")" \
        "  node 1's cluster has nodes 1 and 2, voters"

    # ---- f. node 3's rejoin, its agent SIGKILLed while node 3 is a learner ---------------------
    # Held after etcd's start (ExecStartPost of lib/restore-test-hold): node 3's etcd runs, as
    # the learner the rejoin added, and has not been promoted.
    node 3 hold post etcd.service
    t=$(now_ms)
    out=$(node 3 ctl --json --no-wait rejoin --endpoint="${CLUSTER_ENDPOINT[1]}" || true)
    id3=$(jfield "$out" id)
    path3=$(node 3 busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" GetRestore s "$id3" | sed -n 's/^o "\(.*\)"$/\1/p')
    ok "node 3: a rejoin through node 1 started ($id3)" test -n "$path3"
    # (By the unit's state, not by `held`: that sees the holds of every sandbox on the machine.)
    ok "  it gets to etcd's start, node 3 a learner" \
        wait_until 90 node_sh 3 '[[ $(systemctl --user show -P SubState etcd.service) == start-post ]]'
    is "$(node 3 rprop "$path3" Phase)" starting-etcd "  in phase starting-etcd"
    is "$(cluster_members 1 | grep '^node3 ')" "node3 ${CLUSTER_PEER[3]} learner" "  node 3 is a learner of node 1's cluster"
    pid=$(node 3 agent_pid)
    kill -KILL "$pid"
    ok "  node 3's agent SIGKILLed" wait_until 10 not _sandbox_pid_alive "$pid"
    # The hold goes first: a resumed restore is finished before the agent says it is ready, and
    # this one waits for etcd's start. (systemd restarts the agent by itself, Restart=on-failure;
    # the start below is for an agent that is not restarted so.)
    node 3 release
    node 3 systemctl --user start "$AGENT_UNIT" || true
    wait_until 60 node 3 busctl --system get-property "$AGENT_NAME" "$path3" "$RESTORE_IFACE" Phase || true
    is "$(node 3 restore_wait "$path3" 180)" completed "  the resumed rejoin completes"
    timed "rejoin of node 3 (agent SIGKILLed as a learner, restarted)" "$t"
    is "$(node 3 rprop "$path3" Resumed)" true "  Resumed is true"
    is "$(node 3 rprop "$path3" ErrorName)" "" "  without an ErrorName"

    # ---- the cluster afterwards ----------------------------------------------------------------
    t=$(now_ms)
    for n in 1 2 3; do
        is "$(cluster_members "$n")" "$members_all" "node $n: the member list has the three nodes, all voters (no learner)"
        is "$(cluster_id "$n")" "$cid_new" "  of the new cluster id"
        is "$(ectl "$n" get --prefix --keys-only /registry | sed '/^$/d')" "$keys_backup" "  it serves the backup's keys"
        is "$(ectl "$n" get --print-value-only /registry/after)" "" "  not the one written after the backup"
        ok "  etcd and the stand-in are active" node_sh "$n" 'active etcd.service && active "$STANDIN_UNIT"'
    done
    rev=$(ectl 1 endpoint status -w json | jq -r '.[0].Status.header.revision')
    ok "the revision is the bumped one ($rev >= $rev_b + $BUMP_DEFAULT)" test "${rev:-0}" -ge $(( rev_b + BUMP_DEFAULT ))
    # One write first: right after the restore the newest revision is also the compacted one,
    # and HashKV at a compacted revision is refused.
    ok "the cluster takes writes" ectl 3 put /registry/new y
    is "$(ectl 1 get --print-value-only /registry/new)" y "  seen through node 1"
    rev=$(ectl 1 endpoint status -w json | jq -r '.[0].Status.header.revision')
    hashes=$(cluster_hashkv 1 2 3 --rev "$rev")
    diag "$hashes"
    is "$(awk '$2 ~ /^[0-9]+$/' <<<"$hashes" | wc -l)" 3 "HashKV at revision $rev answered by the three members"
    is "$(awk '{print $2}' <<<"$hashes" | sort -u | wc -l)" 1 "  and equal"
    for n in 2 3; do
        is "$(rejoin_leftovers "$n" | wc -l)" 1 "node $n: its old member data is kept as member.before-rejoin-ID"
        is "$(node_sh "$n" 'stat -c %i "$DATA_DIR"/member.before-rejoin-*')" "${member_inode[$n]}" "  the very member dir etcd ran on before"
        ok "  etcd runs on a new member dir" test "$(node_sh "$n" 'stat -c %i "$DATA_DIR/member"')" != "${member_inode[$n]}"
        ok "  and was restarted" test "$(node "$n" invocation etcd.service)" != "${etcd_inv[$n]}"
        is "$(node_sh "$n" 'find "$CONTROL_DIR" "$RUNTIME_CONTROL_DIR" -path "*/etcd.service.d/*" -o -path "*/$STANDIN_UNIT.d/*"')" "" \
            "  no drop-in of the procedure is left (stop drop-ins, the runtime one with the membership)"
        is "$(node_sh "$n" 'systemctl --user show -P DropInPaths etcd.service | tr " " "\n" | grep user.control')" "" \
            "  etcd's unit has none loaded"
    done
    is "$(node 2 ctl --json list-restores | jq -r '[.[].kind] | sort | join(" ")')" "rejoin rejoin stop" \
        "node 2 lists its stop and its two rejoins, one refused (list-restores, kind)"
    is "$(node 3 ctl --json list-restores | jq -r '[.[].kind] | sort | join(" ")')" "rejoin rejoin rejoin stop" \
        "node 3 lists its stop and its three rejoins, two refused"
    timed "checks of the rejoined cluster" "$t"
else
    skip "rejoins of nodes 2 and 3 (node 3's agent SIGKILLed as a learner)" "no rejoin in this etcd-backupctl"
fi

timed "the whole test" "$t_test"

is "$(node 1 ctl --json list-restores | jq -r '[.[].kind] | join(" ")')" restore "node 1 lists its restore (list-restores, kind)"

for n in 1 2 3; do
    # Node 3's agent was SIGKILLed once (systemd restarted it: Restart=on-failure).
    restarts=0
    (( n == 3 && HAVE_REJOIN )) && restarts=1
    is "$(node "$n" systemctl --user show -P NRestarts "$AGENT_UNIT")" "$restarts" \
        "node $n: the agent restarted $restarts times (as often as the test killed it)"
    ok "node $n: no sanitizer report in the agent's log" \
        node_sh "$n" 'not grep -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"'
done
