#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What the agent reads but did not write, made hostile: a FIFO wherever it opens a file
# (configs/, agent.conf.d/, the storage directory, a backup file, KeyFile=), backup files whose
# metadata or name is not text, an endpoint that answers with bytes that are not UTF-8, and
# settings of the wrong type, shape or size. Each time the agent keeps serving, says what it
# ignored, and its objects stay readable for everyone (GetManagedObjects, list-backups, status).

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

agent_setup --tls
sandbox_etcd_put_keys 100
# Backups of a configuration of its own, so that one the built-in timer may take meanwhile
# does not count.
ctl add-config probe --schedule='*-01-01 04:00:00' || sandbox_bail "cannot add a configuration"
pki=/etc/kubernetes/pki/etcd
CONFIGS=/etc/etcd-backup/configs
LOG=$SANDBOX_LOG_DIR/$AGENT_UNIT.log
good_config="[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=$pki/ca.crt
CertFile=$pki/healthcheck-client.crt
KeyFile=$pki/healthcheck-client.key"

answers() { busctl --system --timeout=5 call "$AGENT_NAME" "$AGENT_PATH" org.freedesktop.DBus.Peer Ping; }
objects_readable() {
    busctl --system --timeout=10 call "$AGENT_NAME" "$AGENT_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects >/dev/null &&
        ctl list-backups >/dev/null && ctl --json list-backups >/dev/null && { ctl status >/dev/null || [ $? = 3 ]; } # 3: a probe backup failed
}
logged() { wait_until 10 grep -qF -- "$1" "$LOG"; }
# failed_backup: starts a backup of probe, waits (30 s at most) for it to fail, prints its path.
failed_backup() {
    local path
    path=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s probe | awk '{print $2}' | tr -d '"')
    wait_until 30 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $path $AGENT_BACKUP State)\" = 's \"failed\"' ]" &&
        echo "$path"
}
# restart_within SECONDS: stop and start the agent, each in time (a blocked loop would not).
restart_within() { timeout "$1" systemctl --user stop "$AGENT_UNIT" && timeout "$1" systemctl --user start "$AGENT_UNIT"; }

# ---- FIFOs where the agent opens files ---------------------------------------------------------

mkdir -p "$CONFIGS" /etc/etcd-backup/agent.conf.d
mkfifo "$CONFIGS/fifo.conf"
systemctl --user reload "$AGENT_UNIT" || true  # the checks below say what happened
ok "a FIFO in configs/ is reported on reload" logged "$CONFIGS/fifo.conf is not a regular file"
ok "  and the agent still answers" answers
ok "  and restarts with it there" restart_within 30
rm "$CONFIGS/fifo.conf"

mkfifo /etc/etcd-backup/agent.conf.d/50-fifo.conf
systemctl --user reload "$AGENT_UNIT" || true  # the checks below say what happened
ok "a FIFO in agent.conf.d/ is reported on reload" logged "agent.conf.d/50-fifo.conf is not a regular file, ignoring."
ok "  and the agent still answers" answers
ok "  and restarts with it there" restart_within 30
rm /etc/etcd-backup/agent.conf.d/50-fifo.conf

id=$(ctl backup probe)
ok "a backup to play with" test -n "$id"
fifo=$STORAGE/probe-20260101T000000Z-00000000-0000-4000-8000-000000000000.db.zst
mkfifo "$fifo"
ok "the agent starts with a FIFO named like a backup in storage" restart_within 30
ok "  reporting it" logged "$(basename "$fifo") is not a regular file, ignoring."
is "$(ctl --json list-backups probe | jq -r '.[].id')" "$id" "  and lists the one backup there is"
rm "$fifo"

file=$(ctl --json list-backups probe | jq -r '.[0].file')
mv "$file" "$T/saved.db.zst"
mkfifo "$file"
start=$SECONDS
is "$(call_error "$(backup_path "$id")" $AGENT_BACKUP.Verify)" org.etcdbackup.Agent1.Error.BackupCorrupt \
    "a FIFO in place of a backup file: Verify answers BackupCorrupt"
ok "  at once" test $((SECONDS - start)) -lt 10
# A thread blocked in the FIFO's open() is one SIGTERM would wait to join until systemd kills
# the agent: the kernel says where each thread sleeps.
ok "  and no thread of the agent is left waiting on the FIFO" \
    not grep -qsE 'wait_for_partner|fifo_open' /proc/"$(agent_pid)"/task/*/wchan
agent_stop
rm "$file"
mv "$T/saved.db.zst" "$file"
agent_start

mkfifo "$pki/fifo.key"
agent_config "${good_config/healthcheck-client.key/fifo.key}"
agent_restart
start=$SECONDS
path=$(failed_backup)
ok "a FIFO as KeyFile=: the backup fails at once" test -n "$path" -a $((SECONDS - start)) -lt 10
is "$(prop "$path" ErrorName)" org.etcdbackup.Agent1.Error.BadAgentConfig "  with BadAgentConfig"
ok "  saying why" grep -q "KeyFile=$pki/fifo.key: not a regular file" <<<"$(prop "$path" Error)"
rm "$pki/fifo.key"

# ---- an endpoint that answers with bytes that are not text ------------------------------------

port=$(sandbox_free_port)
# Percent-encoded as in grpc-message, with systemd's %% for a %.
endpoint_service garbage-endpoint "$port" /usr/bin/python3 "$(realpath "$(dirname "$0")")/lib/garbage-grpc-endpoint.py" \
    "$port" '%%FF%%FEnot%%20UTF-8%%1B[2J%%0Aend'
agent_config "[Etcd]
Endpoint=http://127.0.0.1:$port"
agent_restart
path=$(failed_backup)
error=$(busctl --system --json=short get-property $AGENT_NAME "$path" $AGENT_BACKUP Error | jq -r .data) || true
diag "$error"
ok "an endpoint's error text that is not UTF-8 reaches the Error property made safe" \
    grep -qF $'\xef\xbf\xbd\xef\xbf\xbdnot UTF-8\\x1b[2J\\x0aend' <<<"$error"
ok "  and every object stays readable" objects_readable
systemctl --user stop garbage-endpoint.service
agent_config "$good_config"
agent_restart

# ---- backup files whose metadata or name is not text -----------------------------------------

# forge FILE NODE NEW_NAME: a copy of backup FILE with another id and NODE= set to NODE, its
# metadata checksum made to match again, in the storage directory as NEW_NAME ("ID" in it
# replaced by the new id). NODE and NEW_NAME are bytes, with Python's escapes.
forge() {
    python3 - "$1" "$2" "$3" "$STORAGE" <<'PY'
import ast, hashlib, os, re, sys, uuid
data = open(sys.argv[1], "rb").read()
frame, rest = data[8:4096], data[4096:]
text = frame.split(b"\0", 1)[0]
body = text[:text.index(b"META_SHA256=")]
new_id = str(uuid.uuid4()).encode()
body = re.sub(rb"(?m)^ID=.*$", b"ID=" + new_id, body)
body = re.sub(rb"(?m)^NODE=.*$", b"NODE=" + ast.literal_eval("b'" + sys.argv[2] + "'"), body)
text = body + b"META_SHA256=" + hashlib.sha256(body).hexdigest().encode() + b"\n"
name = ast.literal_eval("b'" + sys.argv[3] + "'").replace(b"ID", new_id)
open(os.path.join(sys.argv[4].encode(), name), "wb").write(data[:8] + text.ljust(4088, b"\0") + rest)
PY
}
forge "$file" 'cp-\x1b[2J' probe-20260101T000000Z-ID.db.zst
forge "$file" 'cp-\xff\xfe' probe-20260101T000001Z-ID.db.zst
forge "$file" 'cp-1' '\xff-ID.db.zst'
forge "$file" 'cp-1' probe-20260101T000002Z-ID.db.zst
agent_restart
ok "backup files with a control character in their metadata are reported" \
    logged "probe-20260101T000000Z-"
ok "  as unusable" grep -q "probe-20260101T000000Z-.* is not a usable backup, ignoring: Backup metadata is incomplete or malformed" "$LOG"
ok "  and so is one whose metadata is not UTF-8" \
    grep -q "probe-20260101T000001Z-.* is not a usable backup, ignoring" "$LOG"
ok "  and one whose name is not UTF-8" grep -q "A file name in $STORAGE is not UTF-8 text, ignoring it." "$LOG"
is "$(ctl --json list-backups probe | jq length)" 2 "  only the good one and its good copy are listed"
ok "  and every object stays readable" objects_readable

# ---- settings: their type, their shape, their size ------------------------------------------------

configs_before=$(ls "$CONFIGS")
is "$(call_error $AGENT_PATH $AGENT_MANAGER.AddConfig wrongtype "{'Schedule': <'daily'>, 'Keep': <'three'>}")" \
    org.freedesktop.DBus.Error.InvalidArgs "Keep as a string is InvalidArgs"
out=$(gdbus call --system --dest $AGENT_NAME --object-path $AGENT_PATH --method $AGENT_MANAGER.AddConfig \
    wrongtype "{'Schedule': <'daily'>, 'Keep': <'three'>}" 2>&1) || true
ok "  naming the setting and the type it must have" grep -q "The setting Keep is of type u, not s" <<<"$out"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.SetConfig default "{'Enabled': <uint32 1>}")" \
    org.freedesktop.DBus.Error.InvalidArgs "Enabled as a number is InvalidArgs"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.AddConfig newline "{'Schedule': <'\ndaily'>}")" \
    org.etcdbackup.Agent1.Error.InvalidSchedule "a schedule with a leading newline is InvalidSchedule"
# Debian's Python, which has python3-dbus (not one a PATH may put first), and without the
# current directory, where dbus/ is the project's.
is "$(/usr/bin/python3 -I - 2>&1 <<'PY'
import dbus
m = dbus.Interface(dbus.SystemBus().get_object("org.etcdbackup.Agent1", "/org/etcdbackup/Agent1"),
                   "org.etcdbackup.Agent1.Manager")
try:
    m.AddConfig("huge", {"Schedule": "*-*-* 00:00:00," * 70000})
    print("none")
except dbus.exceptions.DBusException as e:
    print(e.get_dbus_name())
PY
)" org.etcdbackup.Agent1.Error.InvalidSchedule "a 1 MiB schedule is InvalidSchedule"
is "$(ls "$CONFIGS")" "$configs_before" "none of them made a configuration file"

ok "a schedule with spaces around it is accepted" ctl add-config spaced --schedule='  weekly at 04:00  '
before=$(ctl --json list-configs | jq -c '.[] | select(.name == "spaced") | {schedule, calendar, keep, enabled}')
is "$before" '{"schedule":"weekly at 04:00","calendar":"Mon *-*-* 04:00:00","keep":4,"enabled":true}' \
    "  and kept as its file gives it back"
agent_restart
is "$(ctl --json list-configs | jq -c '.[] | select(.name == "spaced") | {schedule, calendar, keep, enabled}')" "$before" \
    "  which it does after a restart"
ok "  with its timer" systemctl --user is-active --quiet etcd-backup@spaced.timer

agent_sane
