#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Authorization against a real polkitd: polkit is asked once per call, also when a call goes
# on to a second check (a calendar systemd must accept); and a user who keeps hundreds of calls
# waiting for polkit (a rule that takes its time makes them wait for real) is refused beyond a
# bound, at once and with TooManyRequests, while root changes configurations and an operator
# polkit allows starts a backup, both unhindered. At the end the agent stops, so that the
# sanitizer build reports anything the checks left behind.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

agent_setup
CONFIGURER=etcd-configurer # may manage configurations
FLOODER=flooder            # polkit takes half a second to say no to anything it asks
RARE='*-01-01 04:00:00'  # a schedule that never fires during a run
sandbox_add_user "$CONFIGURER"
sandbox_add_user "$FLOODER"

# Every question about the agent's actions is counted, one line each, in $CHECKS. polkitd runs
# rules one at a time: the flooder's half seconds add up for everyone behind them.
CHECKS=$T/polkit-checks
install -m 666 /dev/null "$CHECKS"
sandbox_polkit_rule 40-etcd-backup-authorization-test "
polkit.addRule(function(action, subject) {
    if (action.id.indexOf('org.etcdbackup.agent1.') != 0)
        return polkit.Result.NOT_HANDLED;
    polkit.spawn(['/bin/sh', '-c', 'echo \"\$0\" >>$CHECKS', subject.user + ' ' + action.id + ' ' + action.lookup('config')]);
    if (subject.user == '$FLOODER') {
        polkit.spawn(['/bin/sleep', '0.5']);
        return polkit.Result.NO;
    }
    if (subject.user == '$CONFIGURER' && action.id == 'org.etcdbackup.agent1.manage-configs')
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});"
# polkitd picks the rule up by itself.
probe() { [[ $(call_error --as "$CONFIGURER" $AGENT_PATH $AGENT_MANAGER.AddConfig probe "{'Schedule': <'$RARE'>}") == none ]]; }
wait_until 20 probe || sandbox_bail "polkitd did not take the test rule (see $SANDBOX_LOG_DIR/polkitd.log)"
ctl remove-config probe

checks_of() { grep -c " org.etcdbackup.agent1.manage-configs $1\$" "$CHECKS"; }

# ---- one question per call ------------------------------------------------------------------

is "$(call_error --as "$CONFIGURER" $AGENT_PATH $AGENT_MANAGER.AddConfig weekdays "{'Schedule': <'Mon..Fri *-01-01 04:00'>}")" \
    none "a user polkit allows adds a configuration with a raw calendar"
is "$(checks_of weekdays)" 1 "  polkit was asked once, though the call also waited for systemd-analyze"
is "$(call_error --as "$CONFIGURER" $AGENT_PATH $AGENT_MANAGER.SetConfig weekdays "{'Schedule': <'0 4 1 1 *'>}")" \
    none "  and changes its schedule to a cron line"
is "$(checks_of weekdays)" 2 "  once more"
is "$(call_error --as "$CONFIGURER" $AGENT_PATH $AGENT_MANAGER.SetConfig weekdays "{'Schedule': <'*:*:*'>}")" \
    org.etcdbackup.Agent1.Error.InvalidSchedule "  a schedule systemd's check refuses is InvalidSchedule"
is "$(checks_of weekdays)" 3 "  after one question to polkit"
is "$(ctl --json list-configs | jq -r '.[] | select(.name == "weekdays") | .schedule')" "0 4 1 1 *" \
    "  and changes nothing"

# ---- a flood of calls waiting for polkit ------------------------------------------------------

# 3 connections with 100 calls each: more than dbus-daemon lets one connection (the agent's)
# wait for (128), and each one keeps polkitd busy for half a second.
cp "${BUS_FLOOD:-$BUILD_DIR/tests/bus-flood}" "$T/bus-flood"
# (LeakSanitizer cannot stop a process of another user to scan it.)
sandbox_as "$FLOODER" env ASAN_OPTIONS=detect_leaks=0 "$T/bus-flood" 3 100 default >"$T/flood.out" 2>"$T/flood.err" &
flood=$!
wait_until 20 grep -q '^sent$' "$T/flood.out" || sandbox_bail "bus-flood did not send its calls (see $T/flood.err)"

out=$(sandbox_as "$FLOODER" gdbus call --system --dest "$AGENT_NAME" --object-path "$AGENT_PATH" \
    --method "$AGENT_MANAGER.StartBackup" default 2>&1) && rc=0 || rc=$?
ok "meanwhile another call of that user is refused at once with TooManyRequests" \
    grep -q 'org.etcdbackup.Agent1.Error.TooManyRequests' <<<"$out"
ok "  saying what to do" grep -q 'wait for their answers' <<<"$out"

ok "root adds a configuration meanwhile, its timer included" ctl add-config during-flood --schedule="$RARE"
ok "  (its timer is active)" systemctl --user is-active --quiet etcd-backup@during-flood.timer
ok "  while the flood still waits for polkit" not grep -q ' ' "$T/flood.out"
id=$(sandbox_as "$OPERATOR" etcd-backupctl --no-ask-password backup 2>"$T/operator.err") && rc=0 || rc=$?
is "$rc" 0 "an operator polkit allows takes a backup meanwhile"
[[ $rc == 0 ]] || diag "$(cat "$T/operator.err")"
ok "  which completed" test "$(ctl --json list-backups | jq -r --arg id "$id" '.[] | select(.id == $id) | .state')" = completed

wait "$flood" && rc=0 || rc=$?
is "$rc" 0 "every call of the flood got an answer"
refused=$(awk '$2 == "org.etcdbackup.Agent1.Error.TooManyRequests" {print $1}' "$T/flood.out")
denied=$(awk '$2 == "org.freedesktop.DBus.Error.AccessDenied" {print $1}' "$T/flood.out")
ok "  most of them TooManyRequests, at once" test "${refused:-0}" -ge 250
ok "  the others were asked of polkit, which said no" test "$(( ${refused:-0} + ${denied:-0} ))" -eq 300
[[ $(( ${refused:-0} + ${denied:-0} )) == 300 ]] || diag "$(cat "$T/flood.out")"
is "$(grep -c "^$FLOODER " "$CHECKS")" "${denied:-0}" "  polkit was asked only about those"

ok "the agent serves as before" ctl remove-config during-flood

# The checks it made are all gone: the sanitizer build reports leaks when the agent exits.
agent_stop
agent_sane
