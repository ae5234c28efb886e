#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# etcd-backup-restore-helper, run step by step as root (as the agent's transient units run it),
# against a real etcd 3.4.23 that runs as user etcd on /var/lib/etcd/default (etcd:etcd 0700, as
# Debian has it) and a backup the agent took: stage (owner, modes, marker, the bbolt bump),
# swap --to new and etcd on the restored data (keys, revision + bump, compacted older reads),
# swap --to old and etcd on the old data, finish (previous data kept), cleanup (refuses live
# data), each step twice, a corrupt backup (3), a missing tool (5), bad command lines (2), and
# a stage and swap inside a transient unit with the hardening the agent gives it; the manifest
# step's --set-flag (a rejoining member's etcd.yaml derived from the hidden one, removed again,
# the original dropped; refusals of what is not ours).

source "$(dirname "$0")/lib/sandbox.sh"
source "$(dirname "$0")/lib/agent.sh"
sandbox_enter "$@"
plan_begin

HELPER=${RESTORE_HELPER:?RESTORE_HELPER must name the built etcd-backup-restore-helper}
DATA=/var/lib/etcd/default
BUMP=1000000000

agent_setup -- --data-dir "$DATA" --user etcd
chown etcd:etcd "$(dirname "$DATA")" && chmod 0700 "$(dirname "$DATA")"
ID=$(cat /proc/sys/kernel/random/uuid)
S=$DATA/.restore-$ID
PREVIOUS=$DATA/member.before-restore-$ID

ino() { stat -c %i "$1"; }
staged_value() { sed -n "s/^$1=//p" "$S/staged"; }
# Everything under DIR that is not USER-owned with etcd's modes (dirs 0700, files 0600).
not_etcds() {
    find "$1" \( ! -user "$2" -o ! -group "$2" -o \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \) \
        -o ! \( -type d -o -type f \) \) -print
}
etcd_rev() { etcdctl_s endpoint status -w json | jq -r '.[0].Status.header.revision'; }
etcd_start() { systemctl --user start etcd.service && wait_until 20 etcdctl_s endpoint health; }
etcd_stop() { systemctl --user stop etcd.service; }
helper() { "$HELPER" "$@" 2>>"$SANDBOX_LOG_DIR/helper.log"; }
# helper_rc STEP ARGS... : prints the exit status
helper_rc() { local rc=0; helper "$@" || rc=$?; echo "$rc"; }
stage_args() {
    echo --data-dir "$DATA" --id "$ID" --backup "${1:-$FILE}" --tool "${2:-/usr/bin/etcdctl}" \
        --name "$ETCD_NAME" --initial-cluster "$ETCD_NAME=$ETCD_PEER_URL" \
        --initial-advertise-peer-urls "$ETCD_PEER_URL" --initial-cluster-token "restored-$ID" --bump "${3:-$BUMP}"
}
# shellcheck disable=SC2046  # word splitting of stage_args is meant (no spaces in the values)
stage() { helper stage $(stage_args "$@"); }
stage_rc() { local rc=0; stage "$@" || rc=$?; echo "$rc"; }
listing() { find "$DATA" -printf '%P %i %u:%g %m %s\n' | sort; }

# ---- a backup, then writes it does not have --------------------------------------------

ok "etcd runs as etcd" test "$(ps -o user= -p "$(systemctl --user show -P MainPID etcd.service)")" = etcd
sandbox_etcd_put_keys 300
sandbox_etcd_fill 1   # a snapshot of more than 1 MiB, for the disk that is too small below
BACKUP=$(ctl backup)
FILE=$(ls "$STORAGE"/*"$BACKUP".db.zst)
REV=$(ctl --json list-backups | jq -r '.[0].revision')
SNAPSHOT_SIZE=$(ctl --json list-backups | jq -r '.[0].snapshot_size')
ok "the agent took a backup at revision $REV" test "$REV" -gt 1
for i in $(seq 20); do etcdctl_s put "/after/key-$i" "v$i" >/dev/null; done
LIVE_REV=$(etcd_rev)
ok "20 writes after it (live revision $LIVE_REV)" test "$LIVE_REV" = $((REV + 20))
etcd_stop
OLD_INO=$(ino "$DATA/member")
ok "the live member dir is etcd's, 0700" test "$(stat -c '%U:%G %a' "$DATA/member")" = "etcd:etcd 700"
BEFORE=$(listing)

# ---- the command line ------------------------------------------------------------------

is "$(helper_rc)" 2 "no step: usage (2)"
is "$(helper_rc frobnicate --data-dir "$DATA" --id "$ID")" 2 "an unknown step: 2"
is "$(helper_rc cleanup --data-dir "$DATA" --id "${ID^^}")" 2 "an id not in canonical form: 2"
is "$(helper_rc cleanup --data-dir "$DATA" --id "../../$ID")" 2 "an id with a path in it: 2"
is "$(helper_rc cleanup --data-dir var/lib/etcd --id "$ID")" 2 "a relative --data-dir: 2"
is "$(helper_rc cleanup --data-dir /var/lib/etcd/../etcd/default --id "$ID")" 2 "a --data-dir with ..: 2"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID")" 2 "swap without --to: 2"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to sideways)" 2 "swap --to sideways: 2"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID" --bump 1)" 2 "an option of another step: 2"
# shellcheck disable=SC2046
is "$(helper_rc stage $(stage_args "$FILE" /usr/bin/etcdctl -1))" 2 "stage --bump -1: 2"
# shellcheck disable=SC2046
is "$(helper_rc stage $(stage_args "$FILE" bin/etcdctl))" 2 "a relative --tool: 2"
is "$(helper_rc stage --data-dir "$DATA" --id "$ID" --backup "$FILE")" 2 "stage without the membership: 2"
is "$(listing)" "$BEFORE" "...and the data dir is as it was"

# ---- failures leave the live data alone --------------------------------------------------

is "$(stage_rc "$FILE" /nonexistent/etcdctl)" 5 "stage with a missing tool: 5"
is "$(listing)" "$BEFORE" "...the data dir as it was, no staging dir left"
is "$(stage_rc "$FILE" /nonexistent/etcdctl 0)" 5 "...also without a bump (the tool is not asked its version then)"
cp "$FILE" "$T/corrupt.db.zst"
size=$(stat -c %s "$FILE")
printf '\x5a' | dd of="$T/corrupt.db.zst" bs=1 seek=$((4096 + (size - 4096) / 2)) conv=notrunc status=none
is "$(stage_rc "$T/corrupt.db.zst")" 3 "stage of a corrupted backup: 3"
is "$(listing)" "$BEFORE" "...DIR/member untouched, nothing staged"
ok "...the journal says what did not match" grep -q "corrupt" "$SANDBOX_LOG_DIR/helper.log"
is "$(stage_rc "$T/nonexistent.db.zst")" 1 "stage of a backup that is not there: 1"

# A disk too small for the snapshot: 4.
mkdir -p "$T/small" && mount -t tmpfs -o size=512k,mode=0700 tmpfs "$T/small"
install -d -o etcd -g etcd -m 0700 "$T/small/member"
# shellcheck disable=SC2046
is "$(helper_rc stage $(stage_args | sed "s|--data-dir $DATA|--data-dir $T/small|"))" 4 \
    "stage on a disk smaller than the snapshot ($SNAPSHOT_SIZE bytes): no space (4)"
is "$(ls -A "$T/small")" member "...and nothing left there but DIR/member"
umount "$T/small"

# Tools that have --bump-revision (by their version), or say nothing sensible about it: a
# stand-in that logs its arguments and restores with etcdctl 3.4.23, without the bump.
export FAKE_LOG=$T/fake-tool.log
cat >"$T/fake-tool" <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_LOG"
case $1 in
version) echo "etcdutl version: $FAKE_VERSION"; echo "API version: 3.5" ;;
snapshot)
    shift 2
    args=
    for a; do
        case $a in --bump-revision=*|--mark-compacted) ;; *) args="$args $a" ;; esac
    done
    exec /usr/bin/etcdctl snapshot restore $args ;;
esac
EOF
chmod 755 "$T/fake-tool"
export FAKE_VERSION=3.5.10
is "$(stage_rc "$FILE" "$T/fake-tool")" 5 "a tool of 3.5.10 that does not bump as it says: 5"
ok "...it was asked to, with --bump-revision=$BUMP --mark-compacted" \
    grep -q -- "^snapshot restore $S/snapshot.db --data-dir $S/data --name=$ETCD_NAME .* --bump-revision=$BUMP --mark-compacted\$" "$FAKE_LOG"
ok "...the journal says the bump did not take" grep -q "bump did not take" "$SANDBOX_LOG_DIR/helper.log"
is "$(listing)" "$BEFORE" "...nothing left staged"
FAKE_VERSION=3.4.26
: >"$FAKE_LOG"
is "$(stage_rc "$FILE" "$T/fake-tool")" 0 "a tool of 3.4.26: 0"
is "$(staged_value method)" bbolt "...the helper bumped (method=bbolt)"
ok "...the tool was not given the flags" not grep -q -- --bump-revision "$FAKE_LOG"
FAKE_VERSION=3.6.0
is "$(stage_rc "$FILE" "$T/fake-tool" 0)" 0 "a tool of 3.6.0, --bump 0: 0"
is "$(staged_value method)" none "...method=none"
ok "...no bump flags then either" not grep -q -- --bump-revision "$FAKE_LOG"
FAKE_VERSION=unknown
is "$(stage_rc "$FILE" "$T/fake-tool")" 5 "a tool whose version cannot be told: 5"
is "$(listing)" "$BEFORE" "...nothing left staged"

# A stage killed halfway (SIGKILL while the tool runs): torn, never mistaken for staged.
cat >"$T/slow-tool" <<'EOF'
#!/bin/sh
case $1 in
version) echo "etcdctl version: 3.4.23" ;;
*) echo $$ >"$SLOW_PID"; exec sleep 60 ;;
esac
EOF
chmod 755 "$T/slow-tool"
export SLOW_PID=$T/slow-tool.pid
rm -f "$SLOW_PID"
# shellcheck disable=SC2046
"$HELPER" stage $(stage_args "$FILE" "$T/slow-tool") 2>>"$SANDBOX_LOG_DIR/helper.log" &
helper_pid=$!
ok "the slow tool runs" wait_until 20 test -s "$SLOW_PID"
kill -KILL "$helper_pid"
wait "$helper_pid" 2>/dev/null || true
kill "$(cat "$SLOW_PID")" 2>/dev/null || true
ok "...the killed stage left a staging dir with a snapshot and no marker" test -f "$S/snapshot.db" -a ! -e "$S/staged"
is "$(ino "$DATA/member")" "$OLD_INO" "...DIR/member untouched"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to new)" 1 "...swap --to new refuses it (1)"
is "$(ino "$DATA/member")" "$OLD_INO" "...and DIR/member is still the live one"

# ---- stage ----------------------------------------------------------------------------------

is "$(stage_rc)" 0 "stage: 0"
ok "S/staged is there" test -f "$S/staged"
is "$(sed 's/=.*//' "$S/staged" | tr '\n' ' ')" "member-inode revision bump method " "...with its four keys, in order"
is "$(staged_value method)" bbolt "...method=bbolt (etcdctl 3.4.23 has no --bump-revision)"
is "$(staged_value bump)" "$BUMP" "...bump=$BUMP"
is "$(staged_value revision)" $((REV + BUMP)) "...revision = the backup's + the bump"
is "$(staged_value member-inode)" "$(ino "$S/data/member")" "...member-inode is S/data/member's"
is "$(not_etcds "$S/data/member" etcd)" "" "every file and dir of the staged member is etcd:etcd, 0700/0600"
ok "...and there are some: the db, a WAL" test -f "$S/data/member/snap/db" -a -n "$(ls "$S/data/member/wal")"
is "$(stat -c '%U %a' "$S")" "root 700" "S is root's, 0700"
ok "no snapshot.db or temp file left in S" test "$(ls -A "$S" | sort | tr '\n' ' ')" = "data staged "
is "$(ino "$DATA/member")" "$OLD_INO" "DIR/member is still the live one"
echo stale >"$S/data/member/stale-file"
is "$(stage_rc)" 0 "stage again: 0"
ok "...restaged from scratch (what was in S is gone, the marker names the new member dir)" \
    test ! -e "$S/data/member/stale-file" -a "$(staged_value member-inode)" = "$(ino "$S/data/member")"
is "$(staged_value revision)" $((REV + BUMP)) "...bumped once, not twice"
STAGED_INO=$(staged_value member-inode)
ok "the agent (CAP_DAC_READ_SEARCH) can read S/staged: it is a plain file" test "$(stat -c %a "$S/staged")" = 600

# ---- swap --to new, etcd on the restored data ------------------------------------------------

is "$(helper_rc finish --data-dir "$DATA" --id "$ID")" 1 "finish before the swap refuses (1)"
ok "...and S is still there" test -f "$S/staged" -a "$(ino "$S/data/member")" = "$STAGED_INO"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to new)" 0 "swap --to new: 0"
is "$(ino "$DATA/member")" "$STAGED_INO" "DIR/member is the staged member dir"
is "$(ino "$S/data/member")" "$OLD_INO" "S/data/member is the previous one"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to new)" 0 "swap --to new again: 0"
ok "...nothing changed" test "$(ino "$DATA/member")" = "$STAGED_INO" -a "$(ino "$S/data/member")" = "$OLD_INO"
is "$(stage_rc)" 1 "stage while S holds the previous data refuses (1)"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 1 "cleanup while S holds the previous data refuses (1)"
ok "...which is still there" test "$(ino "$S/data/member")" = "$OLD_INO" -a -f "$S/data/member/snap/db"

ok "etcd starts on the restored data" etcd_start
is "$(etcd_rev)" $((REV + BUMP)) "its revision is the backup's + $BUMP"
is "$(etcdctl_s get /registry/test/key-000300 --print-value-only)" value-000300 "a key from before the backup is back"
is "$(etcdctl_s get --prefix /after/ --keys-only | grep -c .)" 0 "the keys written after the backup are gone"
out=$(etcdctl_s get --rev="$REV" /registry/test/key-000001 2>&1 || true)
ok "a read at the backup's revision answers compacted" grep -q "required revision has been compacted" <<<"$out"
etcdctl_s put /restored/marker yes >/dev/null
is "$(etcd_rev)" $((REV + BUMP + 1)) "a write goes on from there"
is "$(not_etcds "$DATA/member" etcd)" "" "everything etcd has in DIR/member is etcd:etcd with its modes"
etcd_stop

# ---- swap --to old, etcd on the old data -------------------------------------------------------

is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to old)" 0 "swap --to old: 0"
is "$(ino "$DATA/member")" "$OLD_INO" "DIR/member is the old member dir"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to old)" 0 "swap --to old again: 0"
ok "...nothing changed" test "$(ino "$DATA/member")" = "$OLD_INO" -a "$(ino "$S/data/member")" = "$STAGED_INO"
ok "etcd starts on the old data" etcd_start
is "$(etcd_rev)" "$LIVE_REV" "at the live revision it had"
is "$(etcdctl_s get /after/key-20 --print-value-only)" v20 "with the writes after the backup"
etcd_stop

# ---- finish ----------------------------------------------------------------------------------

is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to new)" 0 "swap --to new (once more)"
# An earlier restore's previous data: finish keeps only this restore's.
EARLIER=$DATA/member.before-restore-00000000-0000-4000-8000-000000000001
mkdir -p "$EARLIER/snap" && echo old >"$EARLIER/snap/db"
is "$(helper_rc finish --data-dir "$DATA" --id "$ID")" 0 "finish: 0"
is "$(ino "$PREVIOUS")" "$OLD_INO" "the previous data is DIR/member.before-restore-ID"
ok "...and an earlier restore's previous data is removed" test ! -e "$EARLIER"
ok "S is gone" test ! -e "$S"
is "$(helper_rc finish --data-dir "$DATA" --id "$ID")" 0 "finish again: 0"
ok "...nothing changed" test "$(ino "$PREVIOUS")" = "$OLD_INO" -a "$(ino "$DATA/member")" = "$STAGED_INO" -a ! -e "$S"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to old)" 1 "swap --to old after finish: nothing staged (1)"
ok "etcd starts on the restored data, which kept its write" etcd_start
is "$(etcdctl_s get /restored/marker --print-value-only)" yes "...the key written on it is there"
etcd_stop

# ---- cleanup -----------------------------------------------------------------------------------

is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup with nothing staged: 0"
is "$(stage_rc)" 0 "stage (for a cleanup)"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup: 0"
ok "S is gone" test ! -e "$S"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup again: 0"
is "$(ino "$DATA/member")" "$STAGED_INO" "DIR/member untouched by it"
# S/data/member made the live member dir itself (a bind mount: the same inode): never removed.
is "$(stage_rc)" 0 "stage"
mount --bind "$DATA/member" "$S/data/member"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 1 "cleanup refuses when S/data/member is DIR/member (1)"
is "$(stage_rc)" 1 "...and so does stage (it would remove S first)"
ok "...DIR/member still has its db" test -f "$DATA/member/snap/db"
umount "$S/data/member"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup once that is undone: 0"
# A torn stage (no marker) is scratch: the next stage or cleanup removes it.
mkdir -p "$S/data/member/snap" && echo partial >"$S/snapshot.db"
is "$(helper_rc swap --data-dir "$DATA" --id "$ID" --to new)" 1 "swap of a torn stage (no S/staged) refuses (1)"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup of a torn stage: 0"
ok "...S is gone" test ! -e "$S"

# ---- no bump -----------------------------------------------------------------------------------

is "$(stage_rc "$FILE" /usr/bin/etcdctl 0)" 0 "stage --bump 0: 0"
is "$(staged_value method):$(staged_value bump):$(staged_value revision)" "none:0:$REV" \
    "...method=none, bump=0, revision = the backup's"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup"

# ---- manifest --set-flag: the manifest of a member that rejoins a cluster ---------------------

# kubeadm v1.28's etcd.yaml, hidden as a restore hides it; owned by etcd (not root) to see that
# the derived manifest gets its owner and mode.
M=/etc/kubernetes/manifests   # /etc is the sandbox's overlay
mkdir -p "$M"
HIDDEN=$M/.etcd.yaml.etcd-backup-restore
VISIBLE=$M/etcd.yaml
TEMP=$M/.etcd.yaml.etcd-backup-new
KUBEADM_ETCD=$(dirname "$0")/../fuzz/corpus/static-pod/kubeadm-etcd.yaml
install -m 0640 -o etcd -g etcd "$KUBEADM_ETCD" "$HIDDEN"
CLUSTER=cp1=https://192.168.56.10:2380,cp2=https://192.168.56.11:2380,cp3=https://192.168.56.12:2380
FLAGS=(--set-flag "initial-cluster=$CLUSTER" --set-flag initial-cluster-state=existing)
manifest_rc() { helper_rc manifest --dir "$M" --pod etcd "$@"; }
# What it must be: kubeadm's file with the one item replaced and one after the last, nothing else.
sed -e "s|^    - --initial-cluster=cp1=https://192.168.56.10:2380\$|    - --initial-cluster=$CLUSTER|" \
    -e '/^    - --trusted-ca-file=/a\    - --initial-cluster-state=existing' "$KUBEADM_ETCD" >"$T/etcd-derived.yaml"
ok "(the expected manifest differs from kubeadm's in two lines)" \
    test "$(diff "$KUBEADM_ETCD" "$T/etcd-derived.yaml" | grep -c '^[<>]')" = 3
# The etcd container's command as PyYAML (another YAML 1.1 parser) reads it, one item a line.
pod_command() { python3 -c 'import sys, yaml; print("\n".join(yaml.safe_load(open(sys.argv[1]))["spec"]["containers"][0]["command"]))' "$1"; }

is "$(manifest_rc --to visible --set-flag initial-cluster)" 2 "--set-flag without =VALUE: 2"
is "$(manifest_rc --to visible --set-flag --name=x)" 2 "--set-flag with the dashes: 2"
is "$(manifest_rc --drop-hidden)" 2 "--drop-hidden without --set-flag: 2"
is "$(manifest_rc --to visible --drop-hidden "${FLAGS[@]}")" 2 "--to and --drop-hidden: 2"
is "$(manifest_rc --to visible --container etcd)" 2 "--container without --set-flag: 2"
is "$(helper_rc cleanup --data-dir "$DATA" --id "$ID" --set-flag a=b)" 2 "--set-flag to another step: 2"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...nothing written"

is "$(manifest_rc --to visible "${FLAGS[@]}")" 0 "manifest --to visible --set-flag: 0"
ok "...DIR/etcd.yaml is kubeadm's with the flags set, byte for byte" cmp "$VISIBLE" "$T/etcd-derived.yaml"
ok "...the hidden original is kept, byte for byte" cmp "$HIDDEN" "$KUBEADM_ETCD"
is "$(stat -c '%U:%G %a' "$VISIBLE")" "etcd:etcd 640" "...with the original's owner and mode"
is "$(ls -A "$M" | tr '\n' ' ')" ".etcd.yaml.etcd-backup-restore etcd.yaml " "...and no temp file left"
is "$(pod_command "$VISIBLE" | grep -c .)" 21 "...PyYAML reads 21 items of the command"
is "$(pod_command "$VISIBLE" | grep -- '^--initial-cluster')" \
    "$(printf '%s\n' "--initial-cluster=$CLUSTER" --initial-cluster-state=existing)" "...--initial-cluster and -state as set"
DERIVED_INO=$(ino "$VISIBLE")
is "$(manifest_rc --to visible "${FLAGS[@]}")" 0 "--to visible --set-flag again: 0"
is "$(ino "$VISIBLE")" "$DERIVED_INO" "...nothing rewritten"

is "$(manifest_rc --to hidden "${FLAGS[@]}")" 0 "--to hidden --set-flag: 0"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...the derived manifest removed, only the original left"
ok "...byte for byte kubeadm's" cmp "$HIDDEN" "$KUBEADM_ETCD"
is "$(manifest_rc --to hidden "${FLAGS[@]}")" 0 "--to hidden --set-flag again: 0"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...nothing changed"

# A run that crashed with its temp file written: the next one replaces it.
echo torn >"$TEMP"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 0 "--to visible over a torn temp file: 0"
ok "...the derived manifest as before, the temp file gone" test "$(cmp "$VISIBLE" "$T/etcd-derived.yaml" && echo same)" = same -a ! -e "$TEMP"

# Someone else's hand on DIR/etcd.yaml meanwhile: refused, nothing removed.
echo "# edited by hand" >>"$VISIBLE"
cp "$VISIBLE" "$T/etcd-edited.yaml"
is "$(manifest_rc --to hidden "${FLAGS[@]}")" 1 "--to hidden of a manifest changed since: refused (1)"
ok "...the journal says why" grep -q "etcd.yaml is not .*with the flags set (someone wrote it meanwhile): not ours, refusing" \
    "$SANDBOX_LOG_DIR/helper.log"
is "$(manifest_rc --drop-hidden "${FLAGS[@]}")" 1 "--drop-hidden then: refused (1)"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 1 "--to visible then: refused (1)"
ok "...both files as they were" test "$(cmp "$VISIBLE" "$T/etcd-edited.yaml" && cmp "$HIDDEN" "$KUBEADM_ETCD" && echo same)" = same
cp "$T/etcd-derived.yaml" "$VISIBLE"
is "$(manifest_rc --to hidden --set-flag "initial-cluster=$CLUSTER" --set-flag initial-cluster-state=new)" 1 \
    "--to hidden with other flags than the manifest has: refused (1)"
ok "...the derived manifest is still there" cmp "$VISIBLE" "$T/etcd-derived.yaml"

# Once the member is in: the original goes, the derived manifest stays the pod's.
DERIVED_INO=$(ino "$VISIBLE")
is "$(manifest_rc --drop-hidden "${FLAGS[@]}")" 0 "--drop-hidden: 0"
is "$(ls -A "$M")" etcd.yaml "...the hidden original removed"
ok "...DIR/etcd.yaml untouched (the same file, the same bytes)" \
    test "$(ino "$VISIBLE")" = "$DERIVED_INO" -a "$(cmp "$VISIBLE" "$T/etcd-derived.yaml" && echo same)" = same
is "$(manifest_rc --drop-hidden "${FLAGS[@]}")" 0 "--drop-hidden again: 0"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 0 "--to visible --set-flag after it: 0 (the flags are there)"
is "$(manifest_rc --to visible --set-flag initial-cluster-state=new)" 1 "...with other flags: refused (1)"
is "$(ino "$VISIBLE")" "$DERIVED_INO" "...DIR/etcd.yaml untouched"
mv "$VISIBLE" "$T/etcd-moved.yaml" && ln -s "$T/etcd-moved.yaml" "$VISIBLE"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 1 "...but not when DIR/etcd.yaml is a symlink (to a file with the flags): refused (1)"
rm "$VISIBLE" && mv "$T/etcd-moved.yaml" "$VISIBLE"
is "$(manifest_rc --to hidden "${FLAGS[@]}")" 0 "--to hidden with no original left: the manifest itself hidden (0)"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...renamed as without --set-flag"
is "$(manifest_rc --drop-hidden "${FLAGS[@]}")" 1 "--drop-hidden of the only manifest: refused (1)"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...it is still there"

# The hidden manifest a symlink, or one the flags cannot be set in: refused, nothing written.
ln -sf "$KUBEADM_ETCD" "$HIDDEN"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 1 "--to visible --set-flag from a symlink: refused (1)"
printf 'kind: Pod\nspec:\n  containers:\n  - name: etcd\n    command:\n    - etcd\n    - --\n' >"$T/dashdash.yaml"
rm "$HIDDEN" && cp "$T/dashdash.yaml" "$HIDDEN"
is "$(manifest_rc --to visible "${FLAGS[@]}")" 1 "--to visible --set-flag where the flags cannot go: refused (1)"
ok "...the journal says why" grep -q 'Cannot set the flags in .*: line 7: command has a "--"' "$SANDBOX_LOG_DIR/helper.log"
install -m 0640 -o etcd -g etcd "$KUBEADM_ETCD" "$HIDDEN"
is "$(manifest_rc --to visible --container apiserver "${FLAGS[@]}")" 1 "--set-flag --container the pod does not have: refused (1)"
ok "...the journal says why" grep -q 'Cannot set the flags in .*: the pod has no container called apiserver' "$SANDBOX_LOG_DIR/helper.log"
is "$(ls -A "$M")" .etcd.yaml.etcd-backup-restore "...nothing written"

# ---- in a transient unit hardened as the agent makes it -----------------------------------------

# RESTORE-DESIGN.md's properties; ReadWritePaths= the data dir only.
unit_props=(-p Type=oneshot -p ProtectSystem=strict -p "ReadWritePaths=$DATA" -p "ReadOnlyPaths=$STORAGE"
    -p PrivateNetwork=yes -p PrivateTmp=yes -p NoNewPrivileges=yes -p ProtectHome=yes
    -p ProtectKernelTunables=yes -p ProtectKernelModules=yes -p ProtectKernelLogs=yes
    -p ProtectControlGroups=yes -p RestrictAddressFamilies=AF_UNIX -p RestrictNamespaces=yes
    -p LockPersonality=yes -p SystemCallArchitectures=native -p SystemCallFilter=@system-service
    -p "CapabilityBoundingSet=CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH"
    -p Environment=ETCDCTL_API=3 -p UMask=0077)
# Sanitizer builds: LeakSanitizer ptrace()s the process at exit.
[[ -n ${ASAN_OPTIONS:-} ]] && unit_props+=(-p SystemCallFilter=@debug -p "Environment=ASAN_OPTIONS=$ASAN_OPTIONS")
[[ -n ${UBSAN_OPTIONS:-} ]] && unit_props+=(-p "Environment=UBSAN_OPTIONS=$UBSAN_OPTIONS")
# The installed helper, as the agent runs it: the build dir may be below /tmp, which
# PrivateTmp=yes hides from the unit.
INSTALLED_HELPER=/usr/libexec/etcd-backup/etcd-backup-restore-helper
in_unit() {   # in_unit NAME ARGS... : exit status of the helper run as a transient unit
    local rc=0
    systemd-run --user --quiet --wait --collect --unit="etcd-backup-restore-$ID-$1" "${unit_props[@]}" \
        "$INSTALLED_HELPER" "${@:2}" >>"$SANDBOX_LOG_DIR/helper-units.log" 2>&1 || rc=$?
    echo "$rc"
}
# shellcheck disable=SC2046
is "$(in_unit stage stage $(stage_args))" 0 "stage in the hardened unit: 0"
is "$(not_etcds "$S/data/member" etcd):$(staged_value method)" ":bbolt" "...chowned to etcd, bumped"
is "$(in_unit swap swap --data-dir "$DATA" --id "$ID" --to new)" 0 "swap --to new in the hardened unit: 0"
is "$(ino "$DATA/member")" "$(staged_value member-inode)" "...DIR/member is the staged data"
is "$(in_unit finish finish --data-dir "$DATA" --id "$ID")" 1 "finish there refuses: the previous data's name is taken (1)"
is "$(in_unit swap-back swap --data-dir "$DATA" --id "$ID" --to old)" 0 "swap --to old in the hardened unit: 0"
is "$(in_unit cleanup cleanup --data-dir "$DATA" --id "$ID")" 0 "cleanup in the hardened unit: 0"
is "$(ino "$DATA/member"):$(test -e "$S" && echo S-left)" "$STAGED_INO:" "...DIR/member as before, S gone"
ok "etcd starts again on it" etcd_start
is "$(etcdctl_s get /restored/marker --print-value-only)" yes "...the data of the restore"

# The manifest step with --set-flag, with DIR writable as the only path.
unit_props+=(-p "ReadWritePaths=$M")
is "$(in_unit manifest manifest --dir "$M" --pod etcd --to visible "${FLAGS[@]}")" 0 \
    "manifest --to visible --set-flag in the hardened unit: 0"
ok "...the derived manifest, byte for byte, the original kept" \
    test "$(cmp "$VISIBLE" "$T/etcd-derived.yaml" && cmp "$HIDDEN" "$KUBEADM_ETCD" && echo same)" = same
is "$(stat -c '%U:%G %a' "$VISIBLE")" "etcd:etcd 640" "...with the original's owner and mode"

# The units' output: $SANDBOX_LOG_DIR/UNIT.log (sandbox.sh's drop-in for every service).
ok "the units' output is there" grep -q "^Staged $S/data/member" "$SANDBOX_LOG_DIR/etcd-backup-restore-$ID-stage.service.log"
ok "no sanitizer report from the helper" not grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" \
    "$SANDBOX_LOG_DIR/helper.log" "$SANDBOX_LOG_DIR"/etcd-backup-restore-"$ID"-*.service.log
