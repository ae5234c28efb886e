#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# agent/systemd-jobs.c against a real systemd manager (the user manager, owning
# org.freedesktop.systemd1 on the sandbox's system bus as PID 1 does on a node), through
# tests/systemd-jobs-client: merged jobs end every caller, systemd's error names come through,
# deadlines end a call and cancel its job, "done" is judged against the unit's state, transient
# units, the bound on calls in flight; then the agent: its calls to systemd go on a connection
# of their own, which callers' polkit queries cannot fill.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

CLIENT=$BUILD_DIR/tests/systemd-jobs-client
[[ -x $CLIENT ]] || sandbox_bail "no $CLIENT: build first"

# The agent's setup brings the bus, the user manager and polkitd the agent part needs.
agent_setup
# Its timer is not what this test is about. A disabled configuration also keeps its (stopped,
# then unloaded) timer in every later pass's stop list: the add-config below checks that this
# is no failure.
ctl set-config default --disable >/dev/null || true   # (already, where agent_setup disables it)

# run_client OP... : runs the client (Scope=system: the manager on the system bus), output in $OUT.
# (Its exit status says only whether every operation ended: the lines say how. Its stderr is
# kept for the sanitizer check at the end.)
run_client() { OUT=$("$CLIENT" --limit=20 "$@" 2>>"$SANDBOX_LOG_DIR/client.log") || true; }
# line N : the client's line for operation N; field LINE KEY : one of its fields; msg LINE.
line() { grep "^$1 " <<<"$OUT"; }
field() { local l=${1%% message=*}; sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$l"; }
msg() { echo "${1#* message=}"; }
unit_prop() { systemctl --user show -P "$2" "$1"; }
unit_is() { [[ $(unit_prop "$1" ActiveState) == "$2" ]]; }

sandbox_user_unit slow.service <<'EOF'
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 2
EOF
sandbox_user_unit slower.service <<'EOF'
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 4
TimeoutStartSec=60
EOF
sandbox_user_unit after-slower.service <<'EOF'
[Unit]
After=slower.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
EOF
sandbox_user_unit cond.service <<'EOF'
[Unit]
ConditionPathExists=/nonexistent-etcd-backup-test
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
EOF
sandbox_user_unit fails.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'exit 3'
EOF
sandbox_user_unit oneshot.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/true
EOF
sandbox_user_unit sleeper.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
EOF
# Upholds= starts the upheld unit again as soon as it stops: a stop that "succeeds" into a
# running unit.
sandbox_user_unit upheld.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
EOF
sandbox_user_unit upholder.service <<'EOF'
[Unit]
Upholds=upheld.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
EOF
sandbox_user_unit seq@.service <<'EOF'
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
EOF
systemctl --user mask masked.service 2>/dev/null

# ---- merged jobs --------------------------------------------------------------------------------

run_client start:slow.service start:slow.service
ok "two identical start calls of one slow unit both end (systemd merged them into one job)" \
    test "$(grep -c ' job=done active=active ' <<<"$OUT")" -eq 2
ok "  none is left waiting" not grep -q '^pending' <<<"$OUT"
is "$(unit_prop slow.service ActiveState)" active "  and the unit is active"

# ---- systemd's error names ------------------------------------------------------------------------

run_client start:does-not-exist.service start:masked.service
is "$(field "$(line 0)" name)" org.freedesktop.systemd1.NoSuchUnit "an unknown unit comes back as NoSuchUnit"
is "$(field "$(line 0)" error)" ENOENT "  with its errno"
ok "  and systemd's message" grep -q 'does-not-exist.service not found' <<<"$(msg "$(line 0)")"
is "$(field "$(line 1)" name)" org.freedesktop.systemd1.UnitMasked "a masked unit comes back as UnitMasked"

# ---- deadlines --------------------------------------------------------------------------------------

run_client start:slower.service:1000
state_at_deadline=$(unit_prop slower.service ActiveState)/$(systemctl --user list-jobs --no-legend | awk '/slower.service/ {n++} END {print n + 0}')
is "$(field "$(line 0)" error)" ETIMEDOUT "a job past its deadline ends with ETIMEDOUT"
ok "  with a message naming the unit" grep -q 'Timed out after 1s waiting for slower.service to start' <<<"$(msg "$(line 0)")"
is "$state_at_deadline" activating/0 "  while systemd is still starting the unit, whose job is cancelled"
systemctl --user stop slower.service

# A start waiting for its ordering dependency: cancelled, it never runs later.
systemctl --user start --no-block slower.service
run_client start:after-slower.service:1000
is "$(field "$(line 0)" error)" ETIMEDOUT "a start waiting for an ordering dependency times out"
wait_until 10 unit_is slower.service active
sleep 0.5
is "$(unit_prop after-slower.service ActiveState)" inactive \
    "  and is not carried out once the dependency is up (the job was cancelled)"
is "$(unit_prop after-slower.service ActiveEnterTimestampMonotonic)" 0 "  it never ran"

# ---- "done" judged against the unit's state --------------------------------------------------------

run_client start:cond.service
is "$(field "$(line 0)" job)" done "a start with a failed condition: systemd says 'done'"
is "$(field "$(line 0)" active)" inactive "  the unit is inactive"
is "$(field "$(line 0)" error)" EIO "  which is reported as an error"
ok "  naming the condition" grep -q 'ConditionPathExists=/nonexistent-etcd-backup-test was not met' <<<"$(msg "$(line 0)")"

run_client start:fails.service
is "$(field "$(line 0)" job)" failed "a start that fails: job 'failed'"
is "$(field "$(line 0)" result)/$(field "$(line 0)" status)" exit-code/3 "  the unit's Result and exit status come along"
ok "  and the message says what systemctl status would" grep -q 'Result: exit-code.*status=3' <<<"$(msg "$(line 0)")"

run_client start:oneshot.service
is "$(field "$(line 0)" error)/$(field "$(line 0)" active)/$(field "$(line 0)" result)" 0/inactive/success \
    "a Type=oneshot service that ran and exited is a successful start"

systemctl --user start sleeper.service
run_client stop:sleeper.service
is "$(field "$(line 0)" error)/$(field "$(line 0)" job)/$(field "$(line 0)" active)" 0/done/inactive \
    "a stop is confirmed by the unit being inactive"

systemctl --user start upholder.service
wait_until 10 unit_is upheld.service active
run_client stop:upheld.service
is "$(field "$(line 0)" job)" done "a stop of a unit something starts again: job 'done'"
is "$(field "$(line 0)" error)" EBUSY "  reported as EBUSY"
ok "  saying the unit is started again" grep -q 'upheld.service is .* right after its stop job ended' <<<"$(msg "$(line 0)")"
systemctl --user stop upholder.service upheld.service

run_client state:slow.service state:no-such-thing.service
is "$(field "$(line 0)" active)/$(field "$(line 0)" sub)" active/exited "a unit's state can be read"
is "$(field "$(line 1)" error)/$(field "$(line 1)" active)" 0/inactive "  a unit systemd does not know reads as inactive"

# ---- transient units ---------------------------------------------------------------------------------

run_client 'transient:helper-ok.service:exit 0' 'transient:helper-fail.service:exit 7'
is "$(field "$(line 0)" error)/$(field "$(line 0)" status)" 0/0 "a transient helper that exits 0 succeeds, with its status"
is "$(field "$(line 1)" error)/$(field "$(line 1)" job)/$(field "$(line 1)" status)" EIO/failed/7 \
    "a transient helper that exits 7 fails, with its status"
is "$(unit_prop helper-fail.service LoadState)" not-found "  and is collected although it failed"
run_client 'transient:helper-fail.service:exit 0'
is "$(field "$(line 0)" error)" 0 "  so that the same name runs again"

# ---- the bound on calls in flight ---------------------------------------------------------------------

# With the manager stopped, every reply stays owed: without a bound, dbus-daemon refuses the
# calls past its 128 pending replies per connection (LimitsExceeded).
manager=$(_sandbox_pid_of user-manager)
sandbox_on_exit kill -CONT "$manager"
kill -STOP "$manager"
"$CLIENT" --limit=30 version:200 >"$T/many.out" 2>>"$SANDBOX_LOG_DIR/client.log" &
client=$!
sleep 1
kill -CONT "$manager"
wait "$client" || true
is "$(grep -c ' error=0 ' "$T/many.out")" 200 "200 calls at once, with systemd not answering for a while, all succeed"
is "$(awk '{print $1}' "$T/many.out" | tr '\n' ' ')" "$(seq -s ' ' 0 199) " "  and end in the order they were made"

mapfile -t ops < <(for i in $(seq 40); do echo "start:seq@$i.service"; done)
run_client "${ops[@]}"
is "$(grep -c ' error=0 name=- job=done active=active ' <<<"$OUT")" 40 "40 jobs at once all end, done and active"

# ---- the agent's own connection ----------------------------------------------------------------------

agent=$(agent_pid)
connections=$(busctl --system list --unique --no-legend | awk -v p="$agent" '$2 == p' | wc -l)
is "$connections" 2 "the agent has two system bus connections: its name's and one for systemd"

# A caller that keeps polkit queries pending (polkitd stopped) fills the agent's connection up
# to dbus-daemon's 128 pending replies; root's change must still reach systemd.
polkitd=$(_sandbox_pid_of polkitd)
sandbox_on_exit kill -CONT "$polkitd"
kill -STOP "$polkitd"
# (The callers stay connected until the agent asked polkit: it looks up who they are first.)
callers=()
for i in $(seq 140); do
    sandbox_as "$OUTSIDER" busctl --system --timeout=60 call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" \
        StartBackup s default >/dev/null 2>&1 &
    callers+=($!)
done
sleep 2
ok "with 140 polkit queries pending, root's add-config still makes its timer" \
    ctl add-config jobs-test --schedule='*-01-01 04:00:00'
is "$(systemctl --user is-active etcd-backup@jobs-test.timer)" active "  the timer is active"
kill "${callers[@]}" 2>/dev/null
wait "${callers[@]}" 2>/dev/null || true
kill -CONT "$polkitd"

agent_sane
ok "no sanitizer report from the client" \
    not grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SANDBOX_LOG_DIR/client.log"
