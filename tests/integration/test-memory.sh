#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The agent's memory, against its figures, without timing anything: its peak (VmHWM) across
# backups of a database of MiBs of incompressible values, its RSS idle after them, and that RSS
# staying flat over a series of backups. The peak must not depend on the database's size (what
# gRPC may hold of the stream, the ring and zstd bound it; see agent/etcd-client.c and
# agent/backup-file.c), so a modest database shows it; tests/bench/memory measures large ones.
# Skipped under the sanitizers, whose shadow memory and quarantine are most of the RSS there.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

# The figures, in KiB: the peak during a backup of any size, RSS idle after any work, and
# how much that may drift over a series of backups (malloc's heap moves by a few pages).
PEAK_MAX=$(( 40 * 1024 ))
IDLE_MAX=$(( 8 * 1024 ))
DRIFT_MAX=512
FILL_MB=128
SMALL_BACKUPS=30

agent_setup
pid=$(agent_pid)
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
mib() { awk -v v="$1" 'BEGIN {printf "%.1f MiB", v / 1024}'; }
# ok_below DESCRIPTION VALUE LIMIT : one test, with both figures in its description.
ok_below() { ok "$1: $(mib "$2") <= $(mib "$3")" test "$2" -le "$3"; }

if grep -Eq 'lib(a|ub|l)san' "/proc/$pid/maps"; then
    skip "the agent's memory" "built with sanitizers"
    agent_sane
    exit 0
fi

diag "idle after start: $(mib "$(kib VmRSS)")"
ok_below "idle after start" "$(kib VmRSS)" "$IDLE_MAX"

# ---- flat over many backups of a small database ------------------------------------------

sandbox_etcd_put_keys 1000
for i in $(seq "$SMALL_BACKUPS"); do
    ctl backup >/dev/null || echo "backup $i failed" >>"$T/failed"
    (( i == 10 )) && after_10=$(kib VmRSS)
done
after_all=$(kib VmRSS)
ok "$SMALL_BACKUPS small backups completed" test ! -e "$T/failed"
diag "idle after 10 small backups: $(mib "$after_10"), after $SMALL_BACKUPS: $(mib "$after_all")"
ok_below "RSS grew by at most $DRIFT_MAX KiB from backup 10 to $SMALL_BACKUPS" "$(( after_all - after_10 ))" "$DRIFT_MAX"
ok_below "idle after $SMALL_BACKUPS small backups" "$after_all" "$IDLE_MAX"
for b in $(ctl --json list-backups | jq -r '.[].id'); do ctl delete-backup "$b"; done

# ---- large backups: the peak, and what is left after them --------------------------------

sandbox_etcd_fill "$FILL_MB"
db_size=$(etcdctl_s endpoint status -w json | jq '.[0].Status.dbSize')
ok "etcd holds at least $FILL_MB MiB" test "$db_size" -ge $(( FILL_MB * 1048576 ))
for i in 1 2 3; do
    id=$(ctl backup) || echo "large backup $i failed" >>"$T/failed"
done
ok "three backups of $(( db_size / 1048576 )) MiB completed" test ! -e "$T/failed"
file=$(ctl --json list-backups | jq -r '.[0].file')
ok "the last one is as large as its incompressible snapshot" test "$(stat -c %s "$file")" -ge $(( FILL_MB * 1048576 ))
diag "peak: $(mib "$(kib VmHWM)"), idle after the large backups: $(mib "$(kib VmRSS)")"
ok_below "peak RSS (VmHWM) over all backups" "$(kib VmHWM)" "$PEAK_MAX"
ok_below "idle after the large backups" "$(kib VmRSS)" "$IDLE_MAX"

# A verification reads, decompresses and hashes the whole file: held to the same figures.
ok "verify of the last large backup succeeds" ctl verify "$id"
ok_below "peak RSS after a verification" "$(kib VmHWM)" "$PEAK_MAX"
ok_below "idle after the verification" "$(kib VmRSS)" "$IDLE_MAX"

agent_sane
