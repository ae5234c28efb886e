#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The foundation under races, hostile callers and a broken environment, against the real
# agent, systemd user manager, bus and polkitd: configuration changes that overlap each other
# and a reload, READY=1 only once a reload took effect, a failure answered only to the caller
# it concerns, files broken by hand, the modes of what the agent writes, the limit on
# configurations, retention when clocks lie, verification that is bounded and never holds up
# retention or a delete, a stream that trickles, a file system without RENAME_NOREPLACE, the
# bus policy and the ObjectManager's signals, Scope=user, and SIGKILL in the middle of a
# stream.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

LIB=$(cd "$(dirname "$0")/lib" && pwd)
CONFIGS=/etc/etcd-backup/configs
MANAGER_CALL=(busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER")
# A schedule that never fires during a run: no test here is about a timer firing, and one that
# fired would bring a backup nobody asked for (and a Busy) into what is counted.
RARE='*-01-01 04:00:00'

agent_setup

timer_active() { systemctl --user is-active --quiet "etcd-backup@$1.timer"; }
config_exists() { "${MANAGER_CALL[@]}" GetConfig s "$1" >/dev/null 2>&1; }
config_path() { echo "$AGENT_PATH/config/${1//-/_2d}"; } # bus-label escaped, for our names
config_prop() {
    busctl --system get-property "$AGENT_NAME" "$(config_path "$1")" org.etcdbackup.Agent1.Config "$2" |
        cut -d' ' -f2- | sed 's/^"//; s/"$//'
}
agent_state() { systemctl --user show -P ActiveState "$AGENT_UNIT"; }
backup_count() { storage_files '*.db.zst' | wc -l; }

# add_async NAME SCHEDULE OUT : AddConfig in the background; its answer (or error name) in OUT.
add_async() {
    call_error $AGENT_PATH $AGENT_MANAGER.AddConfig "$1" "{'Schedule': <'$2'>}" >"$3" &
}

# ---- two changes 50 ms apart -----------------------------------------------------------------

add_async race-a "$RARE" "$T/race-a"
sleep 0.05
add_async race-b "$RARE" "$T/race-b"
wait
is "$(cat "$T/race-a") $(cat "$T/race-b")" "none none" "two AddConfig 50 ms apart both succeed"
ok "  and both timers are active" bash -c "$(declare -f timer_active); timer_active race-a && timer_active race-b"

# ---- a timer systemd refuses fails only its own configuration --------------------------------

systemctl --user mask etcd-backup@race-masked.timer
add_async race-masked "$RARE" "$T/race-masked"
sleep 0.05
add_async race-c "$RARE" "$T/race-c"
wait
is "$(cat "$T/race-masked")" org.etcdbackup.Agent1.Error.TimerFailed \
    "AddConfig of a configuration whose timer is masked answers TimerFailed"
is "$(cat "$T/race-c")" none "  and the one made beside it in the same pass succeeds"
ok "  its timer is active" timer_active race-c
systemctl --user unmask etcd-backup@race-masked.timer
ok "RemoveConfig of it" "${MANAGER_CALL[@]}" RemoveConfig s race-masked

# ---- changes during a reload survive it; READY=1 once it took effect ------------------------

# A systemd-analyze that takes two seconds keeps a reload loading while the changes below
# arrive (the agent checks calendars with it).
mkdir -p /run/slow-analyze
cat >/run/slow-analyze/systemd-analyze <<'EOF'
#!/bin/sh
sleep 2
exec /usr/bin/systemd-analyze "$@"
EOF
chmod 755 /run/slow-analyze/systemd-analyze
printf '[Service]\nEnvironment=PATH=/run/slow-analyze:/usr/sbin:/usr/bin:/sbin:/bin\n' >"$USER_UNIT_DIR/$AGENT_UNIT.d/slow.conf"
systemctl --user daemon-reload
agent_restart
printf '[Backup]\nSchedule=%s\n' "$RARE" >"$CONFIGS/reloaded.conf"

kill -HUP "$(agent_pid)"
add_async during-reload "$RARE" "$T/during-add" # not in the directory the reload read
call_error $AGENT_PATH $AGENT_MANAGER.SetConfig race-a "{'Keep': <uint32 5>}" >"$T/during-set" &
call_error $AGENT_PATH $AGENT_MANAGER.RemoveConfig race-b >"$T/during-remove" &
ok "the reload is under way (ActiveState reloading)" wait_until 5 bash -c "[ \"\$(systemctl --user show -P ActiveState $AGENT_UNIT)\" = reloading ]"
ok "...until READY=1 (ActiveState active)" wait_until 20 bash -c "[ \"\$(systemctl --user show -P ActiveState $AGENT_UNIT)\" = active ]"
ok "  by then the configuration the reload found is there" config_exists reloaded
ok "  and its timer is active" timer_active reloaded
wait
is "$(cat "$T/during-add") $(cat "$T/during-set") $(cat "$T/during-remove")" "none none none" \
    "AddConfig, SetConfig and RemoveConfig during the reload all succeed"
ok "the configuration added during the reload survives it" config_exists during-reload
ok "  with its timer" timer_active during-reload
is "$(config_prop race-a Keep)" 5 "the SetConfig made during the reload is not reverted"
ok "the configuration removed during the reload stays removed" not config_exists race-b
ok "  and its timer is gone" not timer_active race-b
rm "$USER_UNIT_DIR/$AGENT_UNIT.d/slow.conf"
systemctl --user daemon-reload
agent_restart

# ---- what the agent writes, whatever its UMask=0077 -----------------------------------------

is "$(stat -c %a "$CONFIGS/during-reload.conf")" 644 "configuration files are 0644, as systemd's own (UMask=0077)"
dropin_dir=$CONTROL_DIR/etcd-backup@during-reload.timer.d
is "$(stat -c %a "$dropin_dir") $(stat -c %a "$dropin_dir/50-etcd-backup.conf")" "755 644" \
    "  timer drop-ins 0755/0644, so that systemctl cat shows them to everyone"

# ---- errors say what failed, and where ---------------------------------------------------------

chmod 0555 "$CONFIGS" # the agent has no CAP_DAC_OVERRIDE
out=$(busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" AddConfig 'sa{sv}' unwritable 1 Schedule s daily 2>&1 || true)
chmod 0755 "$CONFIGS"
ok "a configuration that cannot be written names the file and the cause" \
    grep -q "$CONFIGS/unwritable.conf.*Permission denied" <<<"$out"
diag "$out"
ok "  and is not created" not config_exists unwritable

# ---- a file broken by hand at a restart --------------------------------------------------------

agent_stop
printf '[Backup]\nSchedule=%s\nKeep=none\n' "$RARE" >"$CONFIGS/race-c.conf"
agent_start
ok "a configuration whose file broke while the agent was down is still there" config_exists race-c
ok "  its LoadError names the file" grep -q "$CONFIGS/race-c.conf" <<<"$(config_prop race-c LoadError)"
ok "  and its timer was kept" timer_active race-c
out=$(ctl status) && rc=0 || rc=$?
diag "$out"
is "$rc" 3 "  status exits 3 (not OK) while a configuration is broken"
ok "  status says it is broken, and why" grep -Eq "^ +Broken: race-c: $CONFIGS/race-c.conf:3: .*Keep" <<<"$out"
is "$(sed -n '/Broken:/,/^$/p' <<<"$out" | grep -c .)" 1 "  and names no other configuration"
ok "  list-configs marks it broken in its LOAD column" \
    grep -Eq '^race-c .* broken$' <<<"$(ctl list-configs)"
ok "  and the others loaded" grep -Eq '^race-a .* loaded$' <<<"$(ctl list-configs)"
ok "  list-configs --json has its load_error" \
    grep -q "^$CONFIGS/race-c.conf:3: " <<<"$(ctl --json list-configs | jq -r '.[] | select(.name == "race-c") | .load_error')"
is "$(ctl --json list-configs | jq -c '[.[] | select(.name == "race-a") | .load_error]')" "[null]" \
    "  and null for one that is fine"
is "$(ctl --json status | jq -r '.configs[] | select(.name == "race-c") | .load_error' | cut -d: -f1)" "$CONFIGS/race-c.conf" \
    "  status --json too"
printf '[Backup]\nSchedule=%s\nKeep=3\n' "$RARE" >"$CONFIGS/race-c.conf"
systemctl --user reload "$AGENT_UNIT"
wait_until 20 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $(config_path race-c) org.etcdbackup.Agent1.Config LoadError)\" = 's \"\"' ]"
is "$(config_prop race-c LoadError)" "" "once fixed and reloaded, LoadError is empty"
is "$(config_prop race-c Keep)" 3 "  and the file is in force"
ok "  status no longer says it is broken" not grep -q "Broken:" <<<"$(ctl status)"
is "$(ctl --json list-configs | jq -r '.[] | select(.name == "race-c") | .load_error')" null "  nor list-configs --json"

# ---- the first call after bus activation knows the next runs ----------------------------------

agent_stop
next=$(ctl --json list-configs | jq -r '.[] | select(.name == "race-a") | .next_run')
ok "list-configs, which starts the agent by bus activation, shows the next run ($next)" \
    grep -Eq '^[0-9]{4}-' <<<"$next"

# ---- retention when clocks lie -----------------------------------------------------------------

"${MANAGER_CALL[@]}" AddConfig 'sa{sv}' liar 2 Schedule s "$RARE" Keep u 1 >/dev/null
sandbox_etcd_put_keys 100
first=$(ctl backup liar)
future_id=$(cat /proc/sys/kernel/random/uuid)
f=$(storage_files "*$first.db.zst")
future_file=liar-20991231T000000Z-$future_id.db.zst
cp "$STORAGE/$f" "$STORAGE/$future_file"
python3 "$LIB/backup-meta.py" "$STORAGE/$future_file" ID="$future_id" CREATED_USEC=4102358400000000
agent_restart
ok "a backup dated 2099 (a clock that was ahead) is loaded" ctl verify "$future_id"
second=$(ctl backup liar)
wait_until 10 bash -c "[ \$(find $STORAGE -name 'liar-*' | wc -l) = 1 ]"
is "$(storage_files 'liar-*')" "$(storage_files "*$second.db.zst")" \
    "with Keep=1 the backup just taken stays, not the one dated in the future"

# ---- verification is bounded and gives way ------------------------------------------------------

sandbox_etcd_fill 200
v1=$(ctl backup)
v2=$(ctl backup)
# The agent is frozen once the first verification runs and the second call is sent meanwhile:
# woken, its loop reads that call long before the 200 MiB are read and checked.
verifying() { grep -q 'Verifying backup' <<<"$(systemctl --user show -P StatusText "$AGENT_UNIT")"; }
call_error $AGENT_PATH $AGENT_MANAGER.VerifyBackup "$v1" >"$T/v1" &
wait_until 5 verifying
kill -STOP "$(agent_pid)"
call_error --as "$OUTSIDER" $AGENT_PATH $AGENT_MANAGER.VerifyBackup "$v2" >"$T/v2" &
sleep 0.3
kill -CONT "$(agent_pid)"
wait
is "$(cat "$T/v2")" org.etcdbackup.Agent1.Error.Busy \
    "a second verification while one runs is Busy (one at a time for the whole agent)"
is "$(cat "$T/v1")" none "the first verification succeeds"
is "$(busctl --system get-property $AGENT_NAME "$(backup_path "$v1")" $AGENT_BACKUP VerifyProgress)" "u 100" \
    "  and its VerifyProgress says 100"

call_error --as "$OUTSIDER" $AGENT_PATH $AGENT_MANAGER.VerifyBackup "$v1" >"$T/v1-deleted" &
wait_until 5 verifying
kill -STOP "$(agent_pid)"
call_error $AGENT_PATH $AGENT_MANAGER.DeleteBackup "$v1" >"$T/deleted" &
sleep 0.3
kill -CONT "$(agent_pid)"
wait
is "$(cat "$T/deleted")" none "root's DeleteBackup during a verification succeeds"
is "$(cat "$T/v1-deleted")" org.etcdbackup.Agent1.Error.Cancelled "  and the verification ends Cancelled"
is "$(storage_files "*$v1*")" "" "  the file is gone"

# A user who keeps verifying every backup must not stop retention (Keep=1 grew before).
ok "SetConfig default Keep=1" "${MANAGER_CALL[@]}" SetConfig 'sa{sv}' default 1 Keep u 1
(
    end=$((SECONDS + 60))
    while ((SECONDS < end)) && [[ ! -e $T/stop-verifying ]]; do
        for id in $(ctl --json list-backups default | jq -r '.[].id'); do
            sandbox_as "$OUTSIDER" busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER VerifyBackup s "$id" >/dev/null 2>&1 || true
        done
    done
) &
verifier=$!
for _ in 1 2 3; do ctl backup >/dev/null; done
wait_until 10 bash -c "[ \$(find $STORAGE -name 'default-*' | wc -l) = 1 ]"
touch "$T/stop-verifying"
wait "$verifier"
is "$(storage_files 'default-*' | wc -l)" 1 "retention keeps exactly Keep=1 while a user verifies every backup in a loop"

# ---- verify and delete of a running backup are refused -----------------------------------------

etcd_pid=$(systemctl --user show -P MainPID etcd.service)
kill -STOP "$etcd_pid"
running=$("${MANAGER_CALL[@]}" StartBackup s default | awk '{print $2}' | tr -d '"')
running_id=$(prop "$running" Id)
is "$(call_error $AGENT_PATH $AGENT_MANAGER.VerifyBackup "$running_id")" org.etcdbackup.Agent1.Error.Busy \
    "VerifyBackup of a running backup is Busy"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.DeleteBackup "$running_id")" org.etcdbackup.Agent1.Error.Busy \
    "DeleteBackup of a running backup is Busy"
busctl --system call $AGENT_NAME "$running" $AGENT_BACKUP Cancel
kill -CONT "$etcd_pid"
wait_until 10 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $running $AGENT_BACKUP State)\" = 's \"failed\"' ]"

# ---- a stream that trickles ----------------------------------------------------------------------

# The proxy lets 256 KiB through at once, then 8 KiB/s: a 32 KiB snapshot message every four
# seconds, which kept "a minute without a message" from ever firing.
proxy_port=$(sandbox_free_port)
endpoint_service trickle-proxy "$proxy_port" /usr/bin/python3 "$LIB/trickle-proxy.py" "$proxy_port" "${ETCD_ENDPOINT##*:}" 262144 8192
agent_config "[Etcd]
Endpoint=http://127.0.0.1:$proxy_port"
agent_restart
start=$SECONDS
out=$(ctl backup 2>&1) && rc=0 || rc=$?
ok "a backup through a trickling endpoint fails (exit $rc, after $((SECONDS - start)) s)" test "$rc" -ne 0
path=$(failed_backups | head -1)
is "$(prop "$path" ErrorName)" org.etcdbackup.Agent1.Error.Timeout "  with Timeout"
ok "  and says the stream was too slow" grep -q "less than 1024 KiB of snapshot data in 60 s" <<<"$(prop "$path" Error)"
is "$(storage_files '*.partial')" "" "  leaving no .partial"
systemctl --user stop trickle-proxy.service
agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT"

# ---- a file system without RENAME_NOREPLACE ------------------------------------------------------

# As on NFS, CIFS and FUSE: renameat2() answers EINVAL.
printf '[Service]\nSystemCallFilter=~renameat2\nSystemCallErrorNumber=EINVAL\n' >"$USER_UNIT_DIR/$AGENT_UNIT.d/norename2.conf"
systemctl --user daemon-reload
agent_restart
id=$(ctl backup)
ok "a backup where renameat2() is refused completes" test -f "$(ls "$STORAGE"/*"$id".db.zst 2>/dev/null || echo none)"
ok "  and verifies" ctl verify "$id"
is "$(storage_files '*.partial')" "" "  and no .partial"
rm "$USER_UNIT_DIR/$AGENT_UNIT.d/norename2.conf"
systemctl --user daemon-reload
agent_restart

# ---- the bus policy and the ObjectManager --------------------------------------------------------

out=$(sandbox_as "$OUTSIDER" gdbus call --system --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.RequestName "$AGENT_NAME" 4 2>&1 || true)
ok "a user other than root may not own $AGENT_NAME (the bus policy)" grep -q "org.freedesktop.DBus.Error.AccessDenied" <<<"$out"

gdbus monitor --system --dest "$AGENT_NAME" >"$T/monitor" 2>&1 &
monitor=$!
sleep 0.5
"${MANAGER_CALL[@]}" AddConfig 'sa{sv}' watched 1 Schedule s "$RARE" >/dev/null
watched_id=$(ctl backup watched)
watched_path=$(backup_path "$watched_id")
ctl delete-backup "$watched_id"
"${MANAGER_CALL[@]}" RemoveConfig s watched
sleep 0.5
kill "$monitor"
wait "$monitor" 2>/dev/null || true
ok "InterfacesAdded for a new configuration" grep -q "InterfacesAdded (objectpath '$AGENT_PATH/config/watched', .*'org.etcdbackup.Agent1.Config': {'Name': <'watched'>" "$T/monitor"
ok "InterfacesAdded for a new backup" grep -q "InterfacesAdded (objectpath '$AGENT_PATH/backup/[^']*', .*'org.etcdbackup.Agent1.Backup': {'Id': <'$watched_id'>" "$T/monitor"
ok "InterfacesRemoved for the deleted backup" grep -q "InterfacesRemoved (objectpath '$watched_path', \[.*'org.etcdbackup.Agent1.Backup'" "$T/monitor"
ok "InterfacesRemoved for the removed configuration" grep -q "InterfacesRemoved (objectpath '$AGENT_PATH/config/watched', \[.*'org.etcdbackup.Agent1.Config'" "$T/monitor"

# ---- Scope=user --------------------------------------------------------------------------------

agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT
[Systemd]
Scope=user"
agent_restart
ok "with Scope=user AddConfig makes the timer in the user manager" "${MANAGER_CALL[@]}" AddConfig 'sa{sv}' scoped 1 Schedule s "$RARE"
ok "  the timer is active" timer_active scoped
ok "  and the agent is a client of the user bus" \
    bash -c "busctl --user --no-legend list | awk '\$2 == \"$(agent_pid)\"' | grep -q ."
agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT"
agent_restart

# ---- the configuration limit ---------------------------------------------------------------------

n=$(ctl --json list-configs | jq length)
for ((i = n; i < 100; i++)); do
    "${MANAGER_CALL[@]}" AddConfig 'sa{sv}' "limit-$i" 1 Schedule s "$RARE" >/dev/null || break
done
is "$(ctl --json list-configs | jq length)" 100 "100 configurations can be made"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.AddConfig one-too-many "{'Schedule': <'daily'>}")" \
    org.etcdbackup.Agent1.Error.TooManyConfigs "the 101st is TooManyConfigs"
ok "  and has no file" test ! -e "$CONFIGS/one-too-many.conf"

# ---- SIGKILL in the middle of a stream -------------------------------------------------------------

completed=$(ctl --json list-backups | jq -r '[.[].id] | sort | join(" ")')
agent=$(agent_pid)
"${MANAGER_CALL[@]}" StartBackup s default >/dev/null
caught=no
for _ in $(seq 400); do
    if [ -n "$(storage_files '*.partial')" ]; then caught=yes; break; fi
    sleep 0.005
done
kill -KILL "$agent"
is "$caught" yes "the agent was caught with a .partial"
ok "systemd restarts the killed agent" wait_until 20 bash -c "[ \"\$(systemctl --user show -P MainPID $AGENT_UNIT)\" != $agent ] && systemctl --user is-active --quiet $AGENT_UNIT"
is "$(storage_files '*.partial')" "" "after a restart no .partial is left"
is "$(ctl --json list-backups | jq -r '[.[].id] | sort | join(" ")')" "$completed" "  and every completed backup is there"
for id in $completed; do
    ctl verify "$id" >/dev/null || echo "$id" >>"$T/unverified"
done
ok "  and intact" test ! -e "$T/unverified"

agent_sane 1
