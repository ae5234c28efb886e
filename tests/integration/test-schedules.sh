#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Backup configurations and their systemd timers, against a real systemd manager (it owns
# org.freedesktop.systemd1 on the sandbox's system bus, as PID 1 does on a node): the default
# timer, every schedule form of INTERFACE.md with the next elapse systemd computes, timers made,
# changed, disabled and removed with their configurations, the timer's service taking a backup
# (and starting the agent by bus activation), a timer that really fires, one backup per
# configuration at a time, retention, restarts, reloads of hand-written files, and refusals
# that change nothing.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

agent_setup --default-timer
CONFIGS=/etc/etcd-backup/configs
# A schedule that never fires during a run, for configurations whose timer is not what a part
# of the test is about: a backup nobody asked for would change what is counted.
RARE='*-01-01 04:00:00'
sandbox_etcd_put_keys 200

timer_prop() { systemctl --user show -P "$2" "etcd-backup@$1.timer"; }
config_json() { ctl --json list-configs | jq -c --arg n "$1" '.[] | select(.name == $n)'; }
config_field() { config_json "$1" | jq -r ".$2"; }
backups_of() { ctl --json list-backups "$1" | jq -r '.[].id'; }

# The next elapse systemd computes for a calendar, as RFC 3339 UTC.
analyze_next() {
    local when
    when=$(systemd-analyze calendar --iterations=1 "$1" | awk -F': ' '/\(in UTC\)/ {u=$2} /Next elapse/ {n=$2} END {print u ? u : n}')
    date -u -d "$when" +%Y-%m-%dT%H:%M:%SZ
}

# next_run_matches CONFIG CALENDAR: the configuration's NextRun (from its timer) is what
# systemd-analyze computes for CALENDAR (asked before and after, in case a boundary passed).
next_run_matches() {
    local before after next
    before=$(analyze_next "$2")
    next=$(config_field "$1" next_run)
    after=$(analyze_next "$2")
    [[ $next == "$before" || $next == "$after" ]] || { echo "NextRun $next, systemd-analyze: $before / $after"; return 1; }
}

wait_next_run() { wait_until 10 bash -c "etcd-backupctl --json list-configs | jq -e '.[] | select(.name == \"$1\") | .next_run != null' >/dev/null"; }

# ---- the default configuration ----------------------------------------------------------------

ok "the default configuration exists without any setup" test "$(config_field default schedule)" = "@every 20m"
is "$(config_field default keep)" 20 "  keeping 20"
wait_until 10 systemctl --user is-active --quiet etcd-backup@default.timer
ok "  its timer etcd-backup@default.timer is active" systemctl --user is-active --quiet etcd-backup@default.timer
ok "  with a 20-minute cadence" grep -q 'OnCalendar=\*-\*-\* \*:00/20:00' <<<"$(timer_prop default TimersCalendar)"
is "$(timer_prop default Persistent)" yes "  and Persistent=, so a backup missed while down runs at boot"
is "$(systemctl --user is-enabled etcd-backup@default.timer)" enabled "  enabled, so that it starts at boot"
wait_next_run default
ok "  its NextRun is the timer's next elapse" next_run_matches default '*:0/20'
ok "  listed by systemctl list-timers" grep -q 'etcd-backup@default.timer' <<<"$(systemctl --user list-timers --all --no-pager)"
# From here on it would fire at :00, :20 and :40 in the middle of what follows.
ok "disabling the default configuration" ctl set-config default --disable
ok "  stops its timer" not systemctl --user is-active --quiet etcd-backup@default.timer

# ---- every form of the table --------------------------------------------------------------------

# schedule | the OnCalendar= it becomes, as INTERFACE.md gives it | the default keep
forms=(
    "hourly|hourly|24"
    "daily|daily|7"
    "weekly|weekly|4"
    "monthly|monthly|3"
    "hourly at :15|*-*-* *:15:00|24"
    "daily at 02:30|*-*-* 02:30:00|7"
    "weekly at 22:00|Mon *-*-* 22:00:00|4"
    "monthly at 03:00|*-*-01 03:00:00|3"
    "@every 20m|*:0/20|20"
    "@every 6h|0/6:00|20"
    "@every 1d|*-*-* 00:00:00|20"
    "@every 6h from 02:00|02/6:00|20"
    "@every 30m from 00:10|*:10/30|20"
    "0 2 * * *|*-*-* 02:00:00|20"
    "*/15 * * * *|*:0/15|20"
    "30 1 * * 1-5|Mon..Fri *-*-* 01:30:00|20"
    "Mon..Fri *-*-* 01:30|Mon..Fri *-*-* 01:30|20"
    "*-*-1,15 04:00|*-*-1,15 04:00|20"
)
i=0
for f in "${forms[@]}"; do
    IFS='|' read -r schedule calendar keep <<<"$f"
    name=form-$((i++))
    ok "add-config --schedule=\"$schedule\" is accepted" ctl add-config "$name" --schedule="$schedule"
    wait_next_run "$name"
    ok "  its timer is active" systemctl --user is-active --quiet "etcd-backup@$name.timer"
    ok "  and elapses next when systemd-analyze calendar '$calendar' says" next_run_matches "$name" "$calendar"
    is "$(config_field "$name" keep)" "$keep" "  keeping $keep by default"
done
json=$(config_json form-11)
is "$(jq -r '[.name, .schedule, .calendar, .keep, .enabled, .last_backup, .last_result] | @json' <<<"$json")" \
    '["form-11","@every 6h from 02:00","02/6:00",20,true,null,null]' "list-configs --json has name, schedule, calendar, keep, enabled, last_backup, last_result"
ok "  and next_run in RFC 3339 UTC" grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' <<<"$(jq -r .next_run <<<"$json")"
for ((j = 0; j < i; j++)); do ctl remove-config "form-$j"; done

# ---- refusals change nothing ----------------------------------------------------------------------

ctl add-config nightly --schedule="daily at 02:30" --keep=3
# What must not change: the configurations, their files, the active timers.
snapshot() { ctl --json list-configs; ls "$CONFIGS"; systemctl --user list-timers --no-pager --no-legend | awk '{print $(NF-1)}' | sort; }
before=$(snapshot)
refused() { # refused ERROR DESCRIPTION METHOD ARGS...
    local error=$1 desc=$2; shift 2
    is "$(call_error $AGENT_PATH "$AGENT_MANAGER.$1" "${@:2}")" "org.etcdbackup.Agent1.Error.$error" "$desc is $error"
}
refused InvalidName "a name like ../x" AddConfig ../x "{'Schedule': <'daily'>}"
refused InvalidName "a name with capitals" AddConfig Nightly "{'Schedule': <'daily'>}"
refused InvalidRetention "keep=0" AddConfig other "{'Schedule': <'daily'>, 'Keep': <uint32 0>}"
refused InvalidSchedule "@every 7m" AddConfig other "{'Schedule': <'@every 7m'>}"
refused InvalidSchedule "@every 5h" AddConfig other "{'Schedule': <'@every 5h'>}"
refused InvalidSchedule "a nonsense schedule systemd's parser refuses" AddConfig other "{'Schedule': <'every tuesday-ish'>}"
refused InvalidSchedule "cron with a 61st minute" AddConfig other "{'Schedule': <'61 * * * *'>}"
# Every calendar goes to systemd, whatever form it came in, and must fire, at most once a minute.
refused InvalidSchedule "a cron line that never fires (February 31st)" AddConfig other "{'Schedule': <'0 0 31 2 *'>}"
refused InvalidSchedule "a date that has passed" AddConfig other "{'Schedule': <'2001-01-01 00:00'>}"
refused InvalidSchedule "a calendar firing every second" AddConfig other "{'Schedule': <'*:*:*'>}"
refused InvalidSchedule "a calendar firing twice a minute" AddConfig other "{'Schedule': <'*:*:0,30'>}"
# 250 minutes: cron takes them, the calendar they become is more than systemd's parser takes.
many=$(awk 'BEGIN { for (i = 0; i < 250; i++) printf "%s%d", i ? "," : "", i % 60 }')
refused InvalidSchedule "a cron line whose calendar systemd refuses" AddConfig other "{'Schedule': <'$many 2 * * *'>}"
refused InvalidSchedule "setting a schedule that never fires" SetConfig nightly "{'Schedule': <'0 0 30 2 *'>}"
refused ConfigExists "adding a name that exists" AddConfig nightly "{'Schedule': <'daily'>}"
refused InvalidSchedule "setting a broken schedule" SetConfig nightly "{'Schedule': <'Mon..Fry 01:30'>}"
refused NoSuchConfig "changing a configuration that does not exist" SetConfig nosuch "{'Keep': <uint32 3>}"
refused DefaultConfig "removing the default configuration" RemoveConfig default
out=$(ctl add-config other --schedule="@every 7m" 2>&1) && rc=0 || rc=$?
ok "etcd-backupctl says what is wrong and shows an accepted form" \
    grep -q 'neither within an hour nor within a day.*e.g. "@every 20m"' <<<"$out"
out=$(ctl add-config other --schedule="0 0 31 2 *" 2>&1) && rc=0 || rc=$?
ok "  for one that never fires" grep -q 'it never fires (systemd finds no next time for "\*-02-31 00:00:00".*e.g. "0 0 28 2 \*"' <<<"$out"
out=$(ctl add-config other --schedule="*:*:*" 2>&1) && rc=0 || rc=$?
ok "  for one that fires every second" grep -q 'more often than once a minute.*e.g. "\*:0/5"' <<<"$out"
out=$(ctl add-config other --schedule="$many 2 * * *" 2>&1) && rc=0 || rc=$?
ok "  for one whose calendar systemd refuses" grep -q "systemd's calendar parser refuses the calendar it becomes" <<<"$out"
is "$(call_error --as "$OUTSIDER" $AGENT_PATH $AGENT_MANAGER.AddConfig sneaky "{'Schedule': <'daily'>}")" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired "a user polkit does not allow cannot add configurations"
is "$(snapshot)" "$before" "none of that changed the configurations, their files or the timers"

# ---- a configuration, its file, its timer ---------------------------------------------------------

is "$(cat "$CONFIGS/nightly.conf" | grep -v '^#')" $'[Backup]\nSchedule=daily at 02:30\nKeep=3\nEnabled=yes' \
    "the configuration is a file in $CONFIGS"
# Each change returns once systemd has the timer as the configuration says: no waiting here.
ok "adding a configuration made its timer" systemctl --user is-active --quiet etcd-backup@nightly.timer
ok "  with its calendar" grep -q 'OnCalendar=\*-\*-\* 02:30:00' <<<"$(timer_prop nightly TimersCalendar)"
ok "  and its next run" next_run_matches nightly '*-*-* 02:30:00'
ok "changing its schedule" ctl set-config nightly --schedule="@every 6h from 03:45"
ok "  changes its timer's calendar" grep -q 'OnCalendar=\*-\*-\* 03/6:45:00' <<<"$(timer_prop nightly TimersCalendar)"
is "$(config_field nightly calendar)" 03/6:45 "  and the configuration's"
ok "  and its next run" next_run_matches nightly '03/6:45'
is "$(config_field nightly keep)" 3 "  keeping what it kept"

ok "disabling it" ctl set-config nightly --disable
ok "  stops its timer" not systemctl --user is-active --quiet etcd-backup@nightly.timer
ok "  which no longer starts at boot" not systemctl --user is-enabled --quiet etcd-backup@nightly.timer
is "$(config_field nightly next_run)" null "  and has no next run"
ok "enabling it again" ctl set-config nightly --enable
ok "  brings its timer back" systemctl --user is-active --quiet etcd-backup@nightly.timer
# Its calendars are tested; the backups below count, so its timer must not fire among them.
ok "a schedule that never fires during the run" ctl set-config nightly --schedule="$RARE"

# A timer systemd cannot have: the change is saved, and the caller hears that the timer is not
# in place, and why. A regular file where its drop-in directory goes is the fault here.
touch "$CONTROL_DIR/etcd-backup@blocked.timer.d"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.AddConfig blocked "{'Schedule': <'$RARE'>}")" \
    org.etcdbackup.Agent1.Error.TimerFailed "a configuration whose timer cannot be made is TimerFailed"
out=$(ctl set-config blocked --keep=2 2>&1) && rc=0 || rc=$?
ok "  etcd-backupctl fails with the reason" \
    bash -c '[ "$1" -ne 0 ] && grep -q "saved, but systemd does not have its timer: Cannot write .*blocked.timer.d/50-etcd-backup.conf: Not a directory" <<<"$2"' _ "$rc" "$out"
ok "  the configuration is saved" test -e "$CONFIGS/blocked.conf"
is "$(config_field blocked keep)" 2 "  with the change"
rm "$CONTROL_DIR/etcd-backup@blocked.timer.d"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 systemctl --user is-active --quiet etcd-backup@blocked.timer
ok "  once fixed, a reload makes its timer" systemctl --user is-active --quiet etcd-backup@blocked.timer
ok "remove-config blocked" ctl remove-config blocked
ok "  removes its timer at once" not systemctl --user is-active --quiet etcd-backup@blocked.timer
ok "  and its drop-in" test ! -e "$CONTROL_DIR/etcd-backup@blocked.timer.d"

# ---- the timer's service takes a backup ------------------------------------------------------------

ok "systemctl start etcd-backup@nightly.service" systemctl --user start etcd-backup@nightly.service
is "$(backups_of nightly | wc -l)" 1 "  took a backup of nightly"
is "$(config_field nightly last_result)" completed "  which is its last result"
is "$(config_field nightly last_backup_id)" "$(backups_of nightly)" "  by id"
ok "status shows each configuration's last result and next run" \
    grep -Eq '^nightly +\*-01-01 04:00:00 +[A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} [^ ]+ [0-9a-z ]+ ago +completed +[A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} [^ ]+ [0-9a-z ]+ left$' <<<"$(ctl status)"

# The agent not running: the service's call starts it (bus activation through systemd).
agent_stop
ok "with the agent stopped, etcd-backup@nightly.service still takes a backup" systemctl --user start etcd-backup@nightly.service
ok "  the call started the agent (bus activation)" systemctl --user is-active --quiet "$AGENT_UNIT"
is "$(backups_of nightly | wc -l)" 2 "  and there are two backups of nightly"

# ---- one backup per configuration at a time ----------------------------------------------------------

etcd_pid=$(systemctl --user show -P MainPID etcd.service)
kill -STOP "$etcd_pid"
running=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s nightly | awk '{print $2}' | tr -d '"')
systemctl --user start --no-block etcd-backup@nightly.service
wait_until 10 grep -q "following it" "$SANDBOX_LOG_DIR/etcd-backup@nightly.service.log"
ok "a timer firing while a backup of its configuration runs joins it" \
    grep -q "A backup of 'nightly' is running already" "$SANDBOX_LOG_DIR/etcd-backup@nightly.service.log"
kill -CONT "$etcd_pid"
# (Type=oneshot: "activating" while it runs, which is-active does not count as active)
wait_until 30 bash -c '[[ $(systemctl --user show -P ActiveState etcd-backup@nightly.service) == inactive ]]'
is "$(systemctl --user show -P Result etcd-backup@nightly.service)" success "  and succeeds with it"
is "$(backups_of nightly | wc -l)" 3 "  no second backup was started"
is "$(prop "$running" State)" completed "  the one that ran completed"

# ---- retention ------------------------------------------------------------------------------------------

for _ in 1 2; do ctl backup nightly >/dev/null; done
newest=$(ctl --json list-backups nightly | jq -r '.[0:3][].id' | sort)
is "$(backups_of nightly | sort)" "$newest" "retention keeps exactly the newest 3 of nightly's 5 backups"
is "$(ls "$STORAGE" | grep -c '^nightly-')" 3 "  and only their files"
ctl set-config nightly --keep=1
ctl backup nightly >/dev/null
is "$(backups_of nightly | wc -l)" 1 "with --keep=1 the next backup leaves one"
ok "  the other configurations' backups are untouched" test "$(backups_of default | wc -l)" -eq 0

# ---- a timer that really fires ----------------------------------------------------------------------------

# Once a minute is as often as a schedule may fire: at the second a few seconds from now.
at_second() { printf '*:*:%02d' $(( ($(date +%s) + $1) % 60 )); }
ok "a configuration on a calendar firing once a minute, soon" ctl add-config tick --schedule="$(at_second 8)"
wait_until 40 bash -c "[ \"\$(etcd-backupctl --json list-backups tick | jq length)\" -ge 1 ]"
ok "  gets a backup when its timer elapses" test "$(backups_of tick | wc -l)" -ge 1
ctl set-config tick --schedule="$(at_second 8)"
agent_stop
n=$(backups_of tick 2>/dev/null | wc -l)
wait_until 40 bash -c "systemctl --user is-active --quiet $AGENT_UNIT && [ \"\$(etcd-backupctl --json list-backups tick | jq length)\" -gt $n ]"
ok "  and with the agent stopped the timer still fires and starts it" systemctl --user is-active --quiet "$AGENT_UNIT"
ok "remove-config tick" ctl remove-config tick
ok "  removes its timer" not systemctl --user is-active --quiet etcd-backup@tick.timer
ok "  its drop-in" test ! -e "$CONTROL_DIR/etcd-backup@tick.timer.d/50-etcd-backup.conf"
ok "  and its file" test ! -e "$CONFIGS/tick.conf"
ok "  its backups stay" test "$(backups_of tick | wc -l)" -ge 1

# ---- restarts and reloads -----------------------------------------------------------------------------------

before=$(ctl --json list-configs | jq -c '[.[] | {name, schedule, calendar, keep, enabled}]')
agent_restart
wait_next_run nightly
is "$(ctl --json list-configs | jq -c '[.[] | {name, schedule, calendar, keep, enabled}]')" "$before" \
    "configurations survive an agent restart"
ok "  and so does the last result" test "$(config_field nightly last_result)" = completed
ok "  and their timers" systemctl --user is-active --quiet etcd-backup@nightly.timer

printf '[Backup]\nSchedule=weekly at 04:00\nKeep=2\n' >"$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 systemctl --user is-active --quiet etcd-backup@handmade.timer
is "$(config_field handmade calendar)" "Mon *-*-* 04:00:00" "a hand-written file is picked up on systemctl reload"
ok "  with its timer" systemctl --user is-active --quiet etcd-backup@handmade.timer
printf '[Backup]\nSchedule=@every 7m\n' >"$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 grep -q "handmade.conf.*@every 7m" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
ok "a broken hand-written file is reported" grep -q "Backup configuration 'handmade' is broken" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
is "$(config_field handmade schedule)" "weekly at 04:00" "  and the last good configuration stays in force"
ok "  with its timer" systemctl --user is-active --quiet etcd-backup@handmade.timer
printf '[Backup]\nSchedule=Mon..Fry *-*-* 01:30\n' >"$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 grep -q "Invalid schedule \"Mon..Fry \*-\*-\* 01:30\": systemd's calendar parser refuses it" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
is "$(config_field handmade schedule)" "weekly at 04:00" "  so does a calendar systemd refuses"
# A cron line whose calendar systemd refuses: reported at the load, and not passed on to the
# timers, so that other changes still get their timers.
printf '[Backup]\nSchedule=%s 2 * * *\n' "$many" >"$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 grep -qF "Invalid schedule \"$many 2 * * *\": systemd's calendar parser refuses the calendar it becomes" \
    "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
ok "a hand-written cron line whose calendar systemd refuses is reported at the load" \
    grep -qF "Invalid schedule \"$many 2 * * *\": systemd's calendar parser refuses" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
is "$(config_field handmade schedule)" "weekly at 04:00" "  and the last good configuration stays in force"
ok "  other changes still make their timers" ctl add-config after-broken --schedule="$RARE"
ok "  (that timer is active)" systemctl --user is-active --quiet etcd-backup@after-broken.timer
ctl remove-config after-broken
printf '[Backup]\nSchedule=*:*:*\n' >"$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 grep -qF 'Invalid schedule "*:*:*": it fires more often than once a minute' "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
is "$(config_field handmade schedule)" "weekly at 04:00" "  so does a hand-written calendar firing every second"
rm "$CONFIGS/handmade.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 10 bash -c '! systemctl --user is-active --quiet etcd-backup@handmade.timer'
is "$(config_json handmade)" "" "a removed file removes its configuration on reload"
ok "  and its timer" not systemctl --user is-active --quiet etcd-backup@handmade.timer

agent_sane
