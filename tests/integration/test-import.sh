#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Importing backup files taken on other nodes (Manager.ImportBackup, etcd-backupctl import),
# with the agent installed and run by systemd from its own unit, on a private system bus with
# its own policy and a real polkitd: a file of another agent (another id, configuration and
# node) is stored byte for byte under its own id and configuration and verifies; --config files
# it elsewhere; a pipe works; a corrupt, truncated, overlong or foreign file is BackupCorrupt, an
# id that is here BackupExists, bad options and descriptors are refused, and none of them leaves
# anything in storage; polkit decides for other users; the copy runs on a worker, so the agent
# answers while a slow pipe trickles in; a silent pipe neither hangs the agent nor its shutdown,
# and is given up on after 60 s.

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

META=$(dirname "$0")/lib/backup-meta.py
E=org.etcdbackup.Agent1.Error

# Before agent_setup starts polkitd: the test's operator may import too.
sandbox_polkit_rule 51-etcd-backup-import-test '
polkit.addRule(function(action, subject) {
    if (action.id == "org.etcdbackup.agent1.import-backup" && subject.isInGroup("etcdbackup-operators"))
        return polkit.Result.YES;
});'
agent_setup

# import_error [--as USER] [OPTIONS] 3<INPUT : the D-Bus error name ImportBackup answers when
# passed descriptor 3 (OPTIONS in GVariant text, default none), or "none". gdbus, unlike busctl,
# shows error names; it waits up to 2 minutes for the answer.
import_error() {
    local -a as=()
    if [[ ${1:-} == --as ]]; then as=(sandbox_as "$2"); shift 2; fi
    local out opts=${1:-'@a{sv} {}'}
    if out=$("${as[@]}" gdbus call --system --timeout 120 --dest "$AGENT_NAME" --object-path "$AGENT_PATH" \
            --method "$AGENT_MANAGER.ImportBackup" 3 "$opts" 2>&1); then
        echo none
    else
        sed -n 's/^Error: GDBus.Error:\([^:]*\):.*/\1/p' <<<"$out"
    fi
}

# foreign NAME [KEY=VALUE...] : a copy of the local backup as another node's agent would have
# written it: a new id, configuration node-b, node node-b (or what is given); prints the id.
foreign() {
    local name=$1 id
    shift
    id=$(cat /proc/sys/kernel/random/uuid)
    cp "$local_file" "$T/$name"
    python3 "$META" "$T/$name" "ID=$id" CONFIG=node-b NODE=node-b "$@" >/dev/null
    # The CLI opens it as whoever runs it; $T is open to all.
    chmod 644 "$T/$name"
    echo "$id"
}

# listed ID... : every ID is a completed backup the agent lists.
listed() {
    local id
    for id in "$@"; do
        ctl --json list-backups | jq -e --arg id "$id" 'any(.[]; .id == $id)' >/dev/null || return 1
    done
}
importing() { [[ -n $(storage_files 'import-*.partial') ]]; }

# A few MiB of random data: the copy, the metadata check and the verification each take many
# reads.
sandbox_etcd_fill 4
local_id=$(ctl backup)
local_file=$(ls "$STORAGE"/*"$local_id".db.zst)

# ---- a file taken by another agent --------------------------------------------------------

id=$(foreign other.db.zst)
out=$(ctl import "$T/other.db.zst")
is "$out" "$id" "etcd-backupctl import prints the backup's id: the one in its metadata"
file=$(storage_files "*$id.db.zst")
ok "stored as CONFIG-TIME-ID.db.zst, under the configuration it was taken for" \
    grep -Eqx "node-b-[0-9]{8}T[0-9]{6}Z-$id\.db\.zst" <<<"$file"
ok "byte for byte the input" cmp "$T/other.db.zst" "$STORAGE/$file"
is "$(stat -c %a "$STORAGE/$file")" 600 "readable by root only"
b=$(ctl --json list-backups | jq --arg id "$id" '.[] | select(.id == $id)')
is "$(jq -r .config <<<"$b")" node-b "list-backups lists it under that configuration, which does not exist here"
is "$(jq -r .node <<<"$b")" node-b "  with the node it was taken on"
is "$(jq -r .file <<<"$b")" "$STORAGE/$file" "  and its file"
is "$(jq -r .sha256 <<<"$b")" "$(ctl --json list-backups | jq -r --arg id "$local_id" '.[] | select(.id == $id) | .sha256')" \
    "  and the snapshot's SHA-256 (the local backup's: the same snapshot)"
ok "verify says it is intact" ctl verify "$id"
is "$(storage_files '*.partial')" "" "no .partial is left"
zstd -q -d -c "$STORAGE/$file" >"$T/other.db"
ok "stock zstd -d makes the snapshot of it" cmp "$T/other.db" <(zstd -q -d -c "$local_file")

id2=$(foreign json.db.zst)
json=$(ctl --json import "$T/json.db.zst")
is "$(jq -S -c . <<<"$json")" "$(ctl --json list-backups | jq -S -c --arg id "$id2" '.[] | select(.id == $id)')" \
    "import --json prints the backup as list-backups does"

id3=$(foreign stdin.db.zst)
is "$(cat "$T/stdin.db.zst" | ctl import -)" "$id3" "import - reads a pipe on standard input (streams are accepted)"
ok "  byte for byte" cmp "$T/stdin.db.zst" "$STORAGE/$(storage_files "*$id3.db.zst")"
ok "  and it verifies" ctl verify "$id3"

id4=$(foreign refiled.db.zst)
is "$(ctl --config=restored import "$T/refiled.db.zst")" "$id4" "import --config=restored"
file4=$(storage_files "*$id4.db.zst")
ok "  is stored under that configuration" grep -Eqx "restored-[0-9]{8}T[0-9]{6}Z-$id4\.db\.zst" <<<"$file4"
is "$(python3 "$META" "$STORAGE/$file4" | grep ^CONFIG=)" CONFIG=restored "  its metadata says so"
ok "  the compressed snapshot after the metadata frame is byte for byte the input" \
    cmp <(tail -c +4097 "$T/refiled.db.zst") <(tail -c +4097 "$STORAGE/$file4")
ok "  it verifies" ctl verify "$id4"

agent_restart
ok "after a restart the imports are still listed" listed "$id" "$id2" "$id3"
is "$(ctl --json list-backups | jq -r --arg id "$id4" '.[] | select(.id == $id) | .config')" restored \
    "  the refiled one under its new configuration"

# ---- ids that are here ---------------------------------------------------------------------

before=$(storage_files '*')
is "$(import_error 3<"$local_file")" "$E.BackupExists" "importing a backup of this node is BackupExists"
is "$(import_error "{'Config': <'elsewhere'>}" 3<"$T/other.db.zst")" "$E.BackupExists" \
    "importing an imported backup again, even under another configuration, is BackupExists"
ok "etcd-backupctl import of it fails" not ctl import "$T/other.db.zst"
is "$(storage_files '*')" "$before" "  nothing changed in storage"

# ---- bad options and descriptors -------------------------------------------------------------

id5=$(foreign bad-input.db.zst)
is "$(import_error "{'Foo': <'x'>}" 3<"$T/bad-input.db.zst")" org.freedesktop.DBus.Error.InvalidArgs \
    "an unknown option is InvalidArgs"
is "$(import_error "{'Config': <5>}" 3<"$T/bad-input.db.zst")" org.freedesktop.DBus.Error.InvalidArgs \
    "Config of the wrong type is InvalidArgs"
is "$(import_error "{'Config': <'../x'>}" 3<"$T/bad-input.db.zst")" "$E.InvalidName" "Config '../x' is InvalidName"
is "$(import_error 3<"$T")" org.freedesktop.DBus.Error.InvalidArgs "a directory is InvalidArgs"
is "$(import_error 3>>"$T/bad-input.db.zst")" org.freedesktop.DBus.Error.InvalidArgs \
    "a descriptor open for writing only is InvalidArgs"
ok "import of a file that does not exist fails in the CLI" not ctl import "$T/nosuch.db.zst"
is "$(storage_files '*')" "$before" "  nothing changed in storage"
ok "  and the backup was not imported" not listed "$id5"

# ---- corrupt files ---------------------------------------------------------------------------

size=$(stat -c %s "$local_file")
id6=$(foreign flipped.db.zst)
printf '\x5a' | dd of="$T/flipped.db.zst" bs=1 seek=$((4096 + (size - 4096) / 2)) conv=notrunc status=none
is "$(import_error 3<"$T/flipped.db.zst")" "$E.BackupCorrupt" "a flipped byte in the compressed data is BackupCorrupt"
out=$(ctl import "$T/flipped.db.zst" 2>&1) && rc=0 || rc=$?
ok "  etcd-backupctl import fails (exit status $rc)" test "$rc" -ne 0
ok "  and says what does not match" grep -q "Compressed snapshot is corrupt" <<<"$out"
ok "  the backup is not listed" not listed "$id6"

foreign meta.db.zst >/dev/null
printf '\x5a' | dd of="$T/meta.db.zst" bs=1 seek=100 conv=notrunc status=none
is "$(import_error 3<"$T/meta.db.zst")" "$E.BackupCorrupt" "a flipped byte in the metadata is BackupCorrupt"
foreign short.db.zst >/dev/null
truncate -s $((size - 100)) "$T/short.db.zst"
is "$(import_error 3<"$T/short.db.zst")" "$E.BackupCorrupt" "a truncated file is BackupCorrupt"
foreign long.db.zst >/dev/null
head -c 300000 /dev/urandom >>"$T/long.db.zst"
is "$(import_error 3<"$T/long.db.zst")" "$E.BackupCorrupt" "a file longer than its metadata says is BackupCorrupt"
is "$(import_error 3< <(head -c 200000 /dev/urandom))" "$E.BackupCorrupt" "random bytes from a pipe are BackupCorrupt"
is "$(import_error 3< <(cat /dev/zero))" "$E.BackupCorrupt" "an endless stream of zeros is BackupCorrupt, and ends"
is "$(storage_files '*')" "$before" "none of them left anything in storage"

# ---- polkit decides for other users ------------------------------------------------------------

is "$(import_error --as "$OUTSIDER" 3<"$T/bad-input.db.zst")" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired \
    "ImportBackup by a user polkit does not allow needs authentication (auth_admin_keep)"
ok "a refused etcd-backupctl import fails" \
    not sandbox_as "$OUTSIDER" etcd-backupctl --no-ask-password import "$T/bad-input.db.zst"
is "$(storage_files '*')" "$before" "  and nothing was stored"
is "$(sandbox_as "$OPERATOR" etcd-backupctl --no-ask-password import "$T/bad-input.db.zst")" "$id5" \
    "a user a polkit rule allows imports"
ok "  it is listed" listed "$id5"

# ---- on a worker: the agent answers while a slow pipe trickles in ------------------------------

# feed_slowly FILE PIECES : FILE in PIECES pieces, a second apart.
feed_slowly() {
    local f=$1 n=$2 piece
    piece=$(( ($(stat -c %s "$f") + n - 1) / n ))
    for ((k = 0; k < n; k++)); do
        sleep 1
        dd if="$f" bs="$piece" skip="$k" count=1 status=none
    done
}

id7=$(foreign slow.db.zst)
feed_slowly "$T/slow.db.zst" 8 | ctl import - >"$T/slow.out" 2>&1 &
slow=$!
ok "an import from a slow pipe is under way (its .partial exists)" wait_until 10 importing
ok "  the agent answers GetManagedObjects meanwhile, within 2 s" \
    timeout 2 busctl --system call "$AGENT_NAME" "$AGENT_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects
is "$(import_error 3<"$T/stdin.db.zst")" "$E.Busy" "  a second import meanwhile is Busy"
ok "  a backup can be taken meanwhile" ctl backup
wait "$slow" && rc=0 || rc=$?
is "$rc:$(cat "$T/slow.out")" "0:$id7" "  the slow import completes"
ok "  byte for byte" cmp "$T/slow.db.zst" "$STORAGE/$(storage_files "*$id7.db.zst")"

# ---- a silent pipe ---------------------------------------------------------------------------------

mkfifo "$T/fifo"
exec 7<>"$T/fifo" # a writer that stays and sends nothing
before=$(storage_files '*')
ctl import "$T/fifo" >"$T/fifo.out" 2>&1 &
silent=$!
ok "an import from a silent pipe is under way" wait_until 10 importing
ok "  the agent answers GetManagedObjects meanwhile, within 2 s" \
    timeout 2 busctl --system call "$AGENT_NAME" "$AGENT_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects
ok "  systemctl stop does not wait for it (within 10 s)" timeout 10 systemctl --user stop "$AGENT_UNIT"
is "$(systemctl --user show -P Result "$AGENT_UNIT")" success "  the agent exited cleanly"
wait "$silent" && rc=0 || rc=$?
ok "  etcd-backupctl import fails (exit status $rc)" test "$rc" -ne 0
ok "  and says the import was interrupted" grep -q "interrupted" "$T/fifo.out"
is "$(storage_files '*')" "$before" "  nothing is left in storage"
agent_start

# The metadata, then nothing: given up on after 60 s.
head -c 4096 "$T/slow.db.zst" >&7
start=$SECONDS
is "$(import_error 3<"$T/fifo")" "$E.Timeout" "a pipe that stops sending is given up on with Timeout"
ok "  after 60 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -ge 59
is "$(storage_files '*')" "$before" "  nothing is left in storage"
exec 7>&-

agent_sane
