#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Backups on demand against a real etcd, with the agent installed and run by systemd from
# its own unit, on a private system bus with its own policy and a real polkitd: the file and
# what stock zstd and etcdctl make of it, the listing, verify, delete, the named errors for
# bad input, polkit's say, a second backup while one runs, etcd stopped before and during a
# backup (and the status line saying so), the metrics textfile, SIGTERM during a backup, and the
# agent's introspection against dbus/*.xml; the CLI's -q, status's exit status, the pager and
# colors on a terminal.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

agent_setup
ok "the agent is active (it sent READY=1)" systemctl --user is-active --quiet "$AGENT_UNIT"
ok "it owns $AGENT_NAME on the system bus" busctl --system status "$AGENT_NAME"
status=$(systemctl --user show -P StatusText "$AGENT_UNIT")
is "$status" "Idle; 0 backups in $STORAGE." "its status line says it is idle"

# ---- a backup, and what etcd's own tools make of it ------------------------------------

sandbox_etcd_put_keys 500
rev=$(etcdctl_s get /registry/test/key-000001 -w json | jq -r .header.revision)
id=$(ctl backup)
ok "etcd-backupctl backup prints a backup id" grep -Eqx '[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}' <<<"$id"
files=$(storage_files '*')
is "$(wc -l <<<"$files")" 1 "exactly one file in the storage directory"
ok "named NAME.db.zst after the configuration, the time and the id" \
    grep -Eqx "default-[0-9]{8}T[0-9]{6}Z-$id\.db\.zst" <<<"$files"
file=$STORAGE/$files
ok "the file is readable by root only" test "$(stat -c %a "$file")" = 600

zstd -q -d -c "$file" >"$T/restored.db"
ok "stock zstd -d decompresses it" test -s "$T/restored.db"
etcdctl_s snapshot save "$T/etcdctl.db" >/dev/null 2>&1
ok "byte for byte what etcdctl snapshot save writes" cmp "$T/restored.db" "$T/etcdctl.db"
size=$(stat -c %s "$T/restored.db")
head -c $((size - 32)) "$T/restored.db" | sha256sum | cut -d' ' -f1 >"$T/computed"
tail -c 32 "$T/restored.db" | od -An -tx1 -v | tr -d ' \n' >"$T/trailer"
ok "its last 32 bytes are the SHA-256 of the rest" cmp "$T/computed" <(cat "$T/trailer"; echo)
snapstatus=$(ETCDCTL_API=3 etcdctl snapshot status "$T/restored.db" -w json)
is "$(jq -r .revision <<<"$snapstatus")" "$rev" "etcdctl snapshot status accepts it, at the revision etcd had"

json=$(ctl --json list-backups)
is "$(jq length <<<"$json")" 1 "list-backups --json lists it"
b=$(jq '.[0]' <<<"$json")
is "$(jq -r .id <<<"$b")" "$id" "  id"
is "$(jq -r .config <<<"$b")" default "  config"
is "$(jq -r .file <<<"$b")" "$file" "  file"
is "$(jq -r .size <<<"$b")" "$(stat -c %s "$file")" "  size is the file's"
is "$(jq -r .snapshot_size <<<"$b")" "$size" "  snapshot_size is the snapshot's"
is "$(jq -r .revision <<<"$b")" "$rev" "  revision"
is "$(jq -r .sha256 <<<"$b")" "$(cat "$T/trailer")" "  sha256 is etcd's trailer"
ok "  created is RFC 3339 UTC" grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z' \
    <<<"$(jq -r .created <<<"$b")"
is "$(jq -r .etcd_version <<<"$b")" "3.4.23" "  etcd_version"
ok "list-backups shows a table with a header and a legend" \
    bash -c 'etcd-backupctl list-backups | head -1 | grep -q "^ID  *CONFIG" && etcd-backupctl list-backups | tail -1 | grep -qx "1 backup listed."'
ok "--no-legend prints the row alone" bash -c "[ \"\$(etcd-backupctl --no-legend list-backups | wc -l)\" = 1 ]"
is "$(ctl --json list-backups nosuch | jq length)" 0 "list-backups CONFIG filters by configuration"
ok "verify ID says the backup is intact" ctl verify "$id"
is "$(ctl --json verify "$id" | jq -c '[.verified, .error]')" '[true,null]' "verify --json says so too"
is "$(ctl -q verify "$id")" "" "-q: verify of an intact backup prints nothing"
is "$(ctl -q list-backups | grep -c 'listed\.')" 0 "-q: list-backups has no 'N backups listed.' footer"
ok "  but its rows" grep -q "^$id " <<<"$(ctl -q list-backups)"
out=$(ctl -q verify 00000000-0000-4000-8000-000000000000 2>&1) && rc=0 || rc=$?
ok "-q: an error is still said (exit status $rc)" test "$rc" -ne 0 -a -n "$out"

# ---- bad input gets named errors ----------------------------------------------------------

is "$(call_error $AGENT_PATH $AGENT_MANAGER.StartBackup ../x)" \
    org.etcdbackup.Agent1.Error.InvalidName "StartBackup('../x') is InvalidName"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.StartBackup nosuch)" \
    org.etcdbackup.Agent1.Error.NoSuchConfig "StartBackup('nosuch') is NoSuchConfig"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.GetBackup ../../etc/passwd)" \
    org.etcdbackup.Agent1.Error.InvalidName "GetBackup('../../etc/passwd') is InvalidName"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.DeleteBackup 00000000-0000-4000-8000-000000000000)" \
    org.etcdbackup.Agent1.Error.NoSuchBackup "DeleteBackup of an unknown id is NoSuchBackup"
ok "etcd-backupctl verify of an unknown id fails" not ctl verify 00000000-0000-4000-8000-000000000000
is "$(storage_files '*' | wc -l)" 1 "...and nothing changed on disk"

# ---- polkit decides for non-root callers --------------------------------------------------

is "$(call_error --as "$OUTSIDER" $AGENT_PATH $AGENT_MANAGER.StartBackup default)" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired \
    "StartBackup by a user polkit does not allow needs authentication (auth_admin_keep)"
ok "a refused etcd-backupctl backup fails" not sandbox_as "$OUTSIDER" etcd-backupctl --no-ask-password backup
is "$(storage_files '*' | wc -l)" 1 "...and no backup was taken"
ok "anyone may read: list-backups as that user" sandbox_as "$OUTSIDER" etcd-backupctl list-backups
id2=$(sandbox_as "$OPERATOR" etcd-backupctl --no-ask-password backup)
ok "a user a polkit rule allows takes a backup" test -f "$(ls "$STORAGE"/*"$id2".db.zst 2>/dev/null || echo none)"
is "$(call_error --as "$OPERATOR" $AGENT_PATH $AGENT_MANAGER.DeleteBackup "$id2")" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired \
    "...but may not delete one (the rule covers only the backup action)"
is "$(storage_files '*' | wc -l)" 2 "...which is still there"

# ---- delete -------------------------------------------------------------------------------

ok "delete-backup as root" ctl delete-backup "$id2"
is "$(storage_files "*$id2*")" "" "the file is gone"
is "$(call_error $AGENT_PATH $AGENT_MANAGER.GetBackup "$id2")" \
    org.etcdbackup.Agent1.Error.NoSuchBackup "and so is the object"

# ---- a corrupt file is caught ---------------------------------------------------------------

cp "$file" "$T/good.db.zst"
# One byte in the compressed snapshot (after the 4 KiB metadata frame), one in the metadata
# frame's padding: nothing in the file goes unchecked.
for offset in $(( 4096 + ($(stat -c %s "$file") - 4096) / 2 )) 4000; do
    printf '\x5a' | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
    is "$(call_error $AGENT_PATH $AGENT_MANAGER.VerifyBackup "$id")" \
        org.etcdbackup.Agent1.Error.BackupCorrupt "VerifyBackup of a file damaged at offset $offset is BackupCorrupt"
    ok "etcd-backupctl verify fails on it" not ctl verify "$id"
    cp "$T/good.db.zst" "$file"
done

# ---- one backup at a time -------------------------------------------------------------------

# With etcd frozen the first backup cannot finish; the second must be refused, not queued.
etcd_pid=$(systemctl --user show -P MainPID etcd.service)
kill -STOP "$etcd_pid"
first=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s default | awk '{print $2}' | tr -d '"')
is "$(call_error $AGENT_PATH $AGENT_MANAGER.StartBackup default)" \
    org.etcdbackup.Agent1.Error.Busy "a second StartBackup while one runs is Busy"
is "$(busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER State)" 's "backing-up"' \
    "the Manager's State is backing-up meanwhile"
kill -CONT "$etcd_pid"
wait_until 30 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $first $AGENT_BACKUP State)\" = 's \"completed\"' ]"
is "$(prop "$first" State)" completed "the first one completes once etcd goes on"
is "$(busctl --system get-property $AGENT_NAME $AGENT_PATH $AGENT_MANAGER State)" 's "idle"' "and the agent is idle again"
# status's exit status looks at enabled configurations (default is not): one whose timer never
# fires while the test runs.
ok "add-config watched, enabled" ctl add-config watched --schedule='*-01-01 04:00:00'
ok "  a backup of it" ctl -q backup watched
ctl status >"$T/status.out" && rc=0 || rc=$?
diag "$(cat "$T/status.out")"
is "$rc" 0 "status exits 0 while every enabled configuration's last backup completed"
ok "  and shows watched's last result, completed" grep -Eq '^watched .* completed ' "$T/status.out"

# ---- Cancel ---------------------------------------------------------------------------------

kill -STOP "$etcd_pid"
path=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s default | awk '{print $2}' | tr -d '"')
is "$(call_error --as "$OUTSIDER" "$path" $AGENT_BACKUP.Cancel)" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired "Cancel by a user polkit does not allow is refused"
is "$(prop "$path" State)" running "...and the backup runs on"
ok "Cancel as root" busctl --system call $AGENT_NAME "$path" $AGENT_BACKUP Cancel
wait_until 10 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $path $AGENT_BACKUP State)\" = 's \"failed\"' ]"
is "$(prop "$path" ErrorName)" org.etcdbackup.Agent1.Error.Cancelled "a cancelled backup fails with Cancelled, even with etcd frozen"
is "$(call_error "$path" $AGENT_BACKUP.Cancel)" org.etcdbackup.Agent1.Error.NotRunning "a second Cancel is NotRunning"
is "$(storage_files '*.partial')" "" "no .partial"
kill -CONT "$etcd_pid"

# ---- etcd down ------------------------------------------------------------------------------

systemctl --user stop etcd.service
before=$(storage_files '*.db.zst')
out=$(ctl backup 2>&1) && rc=0 || rc=$?
ok "a backup with etcd stopped fails (exit status $rc)" test "$rc" -ne 0
failed=$(failed_backups | head -1)
is "$(prop "$failed" ErrorName)" org.etcdbackup.Agent1.Error.EtcdUnavailable "its Backup object is failed with EtcdUnavailable"
ok "its Error names the endpoint" grep -q "$ETCD_ENDPOINT" <<<"$(prop "$failed" Error)"
ok "the CLI says why" grep -q "failed: etcd Status call to $ETCD_ENDPOINT failed" <<<"$out"
ctl status >/dev/null && rc=0 || rc=$?
is "$rc" 0 "status still exits 0: the configuration that failed, default, is disabled"
ok "a backup of watched fails too" not ctl -q backup watched
ctl status >"$T/status.out" && rc=0 || rc=$?
is "$rc" 3 "status exits 3 once an enabled configuration's last backup failed"
ok "  and its RESULT says failed" grep -Eq '^watched .* failed ' "$T/status.out"
ctl --json status >/dev/null && rc=0 || rc=$?
is "$rc" 3 "  status --json too"
is "$(storage_files '*.db.zst')" "$before" "no new .db.zst"
is "$(storage_files '*.partial')" "" "no .partial"
ok "the agent is still up" systemctl --user is-active --quiet "$AGENT_UNIT"
status=$(systemctl --user show -P StatusText "$AGENT_UNIT")
diag "status: $status"
ok "its status line says the last backup of 'default' failed, and why" \
    grep -qF "; last backup of 'default' failed: etcd Status call to $ETCD_ENDPOINT failed" <<<"$status"
systemctl --user start etcd.service
wait_until 20 etcdctl_s endpoint health
ok "once etcd is back, a backup of watched" ctl -q backup watched
ctl status >/dev/null && rc=0 || rc=$?
is "$rc" 0 "  and status exits 0 again"
ok "remove-config watched" ctl remove-config watched

# ---- etcd stopped in the middle of a stream ---------------------------------------------------

# Enough data that the stream takes a while; the agent is frozen once its .partial exists, so
# that etcd is certainly stopped in the middle of the stream, not before or after it.
sandbox_etcd_fill 160
agent=$(agent_pid)

# Freezes the agent (SIGSTOP) as soon as the backup just started has its .partial, so that it is
# certainly in the middle of the stream; says yes if it was caught so, no if the stream ended first.
freeze_mid_stream() {
    for _ in $(seq 400); do
        kill -STOP "$agent"
        if [ -n "$(storage_files '*.partial')" ]; then echo yes; return; fi
        kill -CONT "$agent"
        sleep 0.005
    done
    echo no
}

# On a terminal the CLI shows the progress while it waits (script(1) gives it one).
script -qfec "etcd-backupctl backup" "$T/typescript" >/dev/null
ok "on a terminal, backup shows its progress" grep -Eq "Backing up 'default': [0-9]+% \([0-9.]+[KMG] of [0-9.]+M\)" "$T/typescript"

# ---- pager and colors on a terminal ------------------------------------------------------------

script -qfec "env TERM=xterm SYSTEMD_PAGER='sed s/^/PAGED:/' etcd-backupctl list-configs" "$T/typescript" >/dev/null
ok "on a terminal, list-configs goes through \$SYSTEMD_PAGER" grep -q "^PAGED:NAME " "$T/typescript"
ok "  and colors default's completed result green" grep -qF "$(printf '\033[0;32mcompleted\033[0m')" "$T/typescript"
script -qfec "env TERM=xterm SYSTEMD_PAGER='sed s/^/PAGED:/' etcd-backupctl --no-pager list-configs" "$T/typescript" >/dev/null
# (script writes the command line into the typescript's header: anchored.)
ok "  not with --no-pager" not grep -q "^PAGED:" "$T/typescript"
script -qfec "env TERM=xterm NO_COLOR=1 SYSTEMD_PAGER=cat etcd-backupctl list-configs" "$T/typescript" >/dev/null
ok "  NO_COLOR: no colors" not grep -qF "$(printf '\033[')" "$T/typescript"
ok "  SYSTEMD_PAGER=cat: no pager, the table as it is" grep -q "^NAME " "$T/typescript"
out=$(SYSTEMD_PAGER='sed s/^/PAGED:/' TERM=xterm etcd-backupctl list-configs)
ok "on a pipe: neither pager nor colors" not grep -qF -e PAGED: -e "$(printf '\033[')" <<<"$out"
before=$(storage_files '*.db.zst')
path=$(busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s default | awk '{print $2}' | tr -d '"')
caught=$(freeze_mid_stream)
is "$caught" yes "the agent was caught in the middle of a stream (a .partial exists)"
systemctl --user stop etcd.service
kill -CONT "$agent"
wait_until 60 bash -c "[ \"\$(busctl --system get-property $AGENT_NAME $path $AGENT_BACKUP State)\" = 's \"failed\"' ]"
is "$(prop "$path" State)" failed "etcd stopped mid-backup: the backup failed"
diag "reason: $(prop "$path" ErrorName): $(prop "$path" Error)"
ok "  with a reason" test -n "$(prop "$path" Error)"
is "$(storage_files '*.db.zst')" "$before" "  no new .db.zst"
is "$(storage_files '*.partial')" "" "  and the .partial is gone"
ok "  the agent is still up" systemctl --user is-active --quiet "$AGENT_UNIT"
systemctl --user start etcd.service
wait_until 20 etcdctl_s endpoint health

# ---- SIGTERM in the middle of a stream ----------------------------------------------------------

completed=$(ctl --json list-backups | jq -r '[.[].id] | sort | join(" ")')
busctl --system call $AGENT_NAME $AGENT_PATH $AGENT_MANAGER StartBackup s default >/dev/null
caught=$(freeze_mid_stream)
is "$caught" yes "the agent was caught in the middle of another stream"
# systemd sends SIGCONT after SIGTERM, so the frozen agent wakes up to a SIGTERM.
ok "systemctl stop during a backup" agent_stop
is "$(systemctl --user show -P Result "$AGENT_UNIT")" success "the agent exited cleanly on SIGTERM"
is "$(storage_files '*.partial')" "" "no .partial is left behind"
is "$(storage_files '*.db.zst' | wc -l)" "$(wc -w <<<"$completed")" "the completed backups are untouched"

agent_start
is "$(ctl --json list-backups | jq -r '[.[].id] | sort | join(" ")')" "$completed" \
    "after a restart the agent lists the backups on disk"
ok "and a backup works again" ctl backup
is "$(systemctl --user show -P StatusText "$AGENT_UNIT")" "Idle; $(storage_files '*.db.zst' | wc -l) backups in $STORAGE." \
    "once one succeeds, the status line no longer speaks of a failure"

# ---- metrics for node_exporter's textfile collector --------------------------------------------

# The default TextfilePath= is Debian's directory, which the unit may write once it exists.
# Without it (removed in the sandbox's /var overlay only) the agent says so once.
PROM=/var/lib/prometheus/node-exporter/etcd_backup.prom
rm -rf /var/lib/prometheus/node-exporter
agent_restart
missing_said() { grep -c "/var/lib/prometheus/node-exporter does not exist: not writing metrics" "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"; }
ok "no metrics directory: the agent says so" wait_until 10 missing_said
said=$(missing_said)
ctl backup >/dev/null
is "$(missing_said)" "$said" "  once, not after every backup"
mkdir -p /var/lib/prometheus/node-exporter
agent_restart
ok "with the directory, a backup" ctl backup
has_metrics() { grep -q '^etcd_backup_last_result{config="default"} 1$' "$PROM" 2>/dev/null; }
wait_until 10 has_metrics
ok "writes $PROM with the last result of 'default'" has_metrics
is "$(stat -c %a "$PROM")" 644 "  readable by node_exporter's user"
is "$(awk '$1 == "etcd_backup_kept_backups{config=\"default\"}" { print $2 }' "$PROM")" \
    "$(storage_files 'default-*.db.zst' | wc -l)" "  the backups kept"
last=$(awk '$1 == "etcd_backup_last_success_timestamp_seconds{config=\"default\"}" { print int($2) }' "$PROM")
ok "  the last success is the backup just taken ($last)" test $(( $(date +%s) - ${last:-0} )) -lt 300
ok "  every family has HELP and TYPE" test "$(grep -c '^# HELP etcd_backup_' "$PROM")" = "$(grep -c '^# TYPE etcd_backup_' "$PROM")"
ok "  the agent's version" grep -q '^etcd_backup_agent_info{version="[^"]*"} 1$' "$PROM"
is "$(find /var/lib/prometheus/node-exporter -name '.#*' | wc -l)" 0 "  no temporary file left"

# node_exporter's own textfile collector reads it as Prometheus would.
if command -v prometheus-node-exporter >/dev/null; then
    np=$(sandbox_free_port)
    prometheus-node-exporter --collector.textfile.directory=/var/lib/prometheus/node-exporter \
        --web.listen-address="127.0.0.1:$np" --collector.disable-defaults --collector.textfile \
        >"$SANDBOX_LOG_DIR/node-exporter.log" 2>&1 &
    node_exporter_pid=$!
    sandbox_on_exit kill "$node_exporter_pid"
    scrape() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$np/metrics"; }
    wait_until 30 scrape
    scrape >"$T/scraped"
    is "$(awk '$1 == "node_textfile_scrape_error" { print $2 }' "$T/scraped")" 0 \
        "node_exporter's textfile collector parses the file (node_textfile_scrape_error 0)"
    ok "  and serves the last result of 'default'" grep -qx 'etcd_backup_last_result{config="default"} 1' "$T/scraped"
    ok "  with the backups kept and a last success just now" \
        awk -v now="$(date +%s)" '$1 == "etcd_backup_kept_backups{config=\"default\"}" { k = 1 }
            $1 == "etcd_backup_last_success_timestamp_seconds{config=\"default\"}" && $2 + 0 > now - 300 { s = 1 }
            END { exit !(k && s) }' "$T/scraped"
else
    skip "node_exporter reads the file" "prometheus-node-exporter is not installed (tools/packages.txt)"
fi

# ---- disk full ------------------------------------------------------------------------------

# A storage directory on a 4 MiB file system, far too small for the 160 MiB of random data.
mkdir -p /var/lib/etcd-backup-small
mount -t tmpfs -o size=4m,mode=0700 tmpfs /var/lib/etcd-backup-small
printf '[Service]\nReadWritePaths=/var/lib/etcd-backup-small\n' >"$USER_UNIT_DIR/$AGENT_UNIT.d/small.conf"
systemctl --user daemon-reload
agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT
[Storage]
Directory=/var/lib/etcd-backup-small"
agent_restart
out=$(ctl backup 2>&1) && rc=0 || rc=$?
ok "a backup to a full disk fails (exit status $rc)" test "$rc" -ne 0
path=$(failed_backups | head -1)
is "$(prop "$path" ErrorName)" org.etcdbackup.Agent1.Error.NoSpace "  with NoSpace"
ok "  and an Error that says so" grep -q "No space left on device" <<<"$(prop "$path" Error)"
is "$(find /var/lib/etcd-backup-small -mindepth 1 | wc -l)" 0 "  leaving nothing behind"
ok "  the agent is still up" systemctl --user is-active --quiet "$AGENT_UNIT"
rm "$USER_UNIT_DIR/$AGENT_UNIT.d/small.conf"
systemctl --user daemon-reload
agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT"
agent_restart

# ---- the interface as documented ------------------------------------------------------------------

busctl --system call $AGENT_NAME $AGENT_PATH org.freedesktop.DBus.Introspectable Introspect --json=short |
    jq -r '.data[0]' >"$T/manager.xml"
busctl --system call $AGENT_NAME "$(backup_path "$id")" org.freedesktop.DBus.Introspectable Introspect --json=short |
    jq -r '.data[0]' >"$T/backup.xml"
busctl --system call $AGENT_NAME $AGENT_PATH/config/default org.freedesktop.DBus.Introspectable Introspect --json=short |
    jq -r '.data[0]' >"$T/config.xml"
ok "the agent serves exactly what dbus/org.etcdbackup.Agent1.xml documents" \
    python3 "$(dirname "$0")/lib/introspect-diff.py" --elsewhere org.etcdbackup.Agent1.Restore \
    /usr/share/dbus-1/interfaces/org.etcdbackup.Agent1.xml \
    "$T/manager.xml" "$T/backup.xml" "$T/config.xml"

agent_sane
