#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The etcd client's reads, member list, membership changes, KV hash and the health check a
# restore waits for, through etcd-probe (the client itself, one call per run) against real etcd
# 3.4.23 members, compared with what etcdctl says: a learner added, its promotion refused while
# it is not in sync, removed; a second etcd joining as a learner with the --initial-cluster
# MemberAdd gave, promoted once in sync, with the same KV hash; values and revisions of keys
# etcdctl wrote, prefixes with a limit, what is kept of a large answer, reads at compacted and at future revisions, the health
# check passing and failing for each reason with its own errno (a revision below the one
# expected, a revision that should be compacted and is not, a NOSPACE alarm, etcd stopped or
# frozen by SIGSTOP within the timeout and on cancel), and all of it over mutual TLS, with etcd
# authentication refusing the read too.

source "$(dirname "$0")/lib/sandbox.sh"
sandbox_enter "$@"
plan_begin

BUILD_DIR=${BUILD_DIR:-build}
PROBE=$BUILD_DIR/tests/etcd-probe
[[ -x $PROBE ]] || sandbox_bail "no $PROBE: build first"

# probe ARGS... : the client against the current sandbox etcd; its key=value lines on stdout
# (a failure is its error= line). Sanitizer reports and the like go to $T/probe.err.
probe() {
    "$PROBE" --endpoint "$ETCD_ENDPOINT" \
        ${ETCD_CACERT:+--cacert "$ETCD_CACERT" --cert "$ETCD_CERT" --key "$ETCD_KEY"} "$@" 2>>"$T/probe.err" || true
}
# field KEY <<<OUTPUT : the value of the first KEY= line
field() { sed -n "s/^$1=//p" | head -1; }
# same GOT EXPECTED DESCRIPTION : is, where an empty EXPECTED (etcdctl failed) fails too
same() { if [[ -z $2 ]]; then is "$1" "(etcdctl gave nothing)" "$3"; else is "$1" "$2" "$3"; fi; }
revision() { etcdctl_s get / -w json | jq -r .header.revision; }
# ETCDCTL_ARGS... | efield NAME : a field of etcdctl -w fields (jq would round 64-bit ids)
efield() { sed -n "s/^\"$1\" : //p" | head -1; }

sandbox_start_user_manager

# reads_and_health LABEL : every case but the alarm and SIGSTOP ones, against the current etcd.
reads_and_health() {
    local l=$1 out rev mod r1 r2 cur

    # ---- Range of one key --------------------------------------------------------------
    etcdctl_s put /t/a alpha >/dev/null
    mod=$(etcdctl_s get /t/a -w json | jq -r '.kvs[0].mod_revision')
    out=$(probe range /t/a)
    is "$(grep '^kv=' <<<"$out")" "kv=/t/a value=alpha value_size=5 create=$mod mod=$mod version=1" \
        "$l: Range of a key etcdctl wrote returns its value and mod revision"
    is "$(field revision <<<"$out")" "$(revision)" "$l: and the header's revision is etcd's"
    same "$(field cluster_id <<<"$out")" \
        "$(etcdctl_s endpoint status -w fields | efield ClusterID)" "$l: and its cluster id"
    out=$(probe range /t/none)
    is "$(field kvs <<<"$out"),$(field count <<<"$out")" "0,0" "$l: a key that does not exist: no kvs, count 0"

    # ---- a prefix with a limit ------------------------------------------------------------
    for i in 1 2 3 4 5; do etcdctl_s put "/t/p/$i" "v$i" >/dev/null; done
    # ("/t/p0" is the first key after the prefix: "/" + 1 is "0")
    etcdctl_s put /t/p0 outside >/dev/null
    out=$(probe range /t/p/ --prefix --limit 2)
    is "$(grep '^kv=' <<<"$out" | cut -d' ' -f1,2 | tr '\n' ' ')" "kv=/t/p/1 value=v1 kv=/t/p/2 value=v2 " \
        "$l: a prefix with limit 2 gives its first two keys"
    is "$(field count <<<"$out"),$(field more <<<"$out")" "5,1" "$l: count 5 (not the key right after the prefix), more set"
    out=$(probe range "" --prefix --count-only)
    same "$(field count <<<"$out")" "$(etcdctl_s get "" --prefix --keys-only -w fields | efield Count)" \
        "$l: the empty prefix counts every key, as etcdctl does"
    out=$(probe range /t/p/ --prefix --count-only)
    is "$(field count <<<"$out"),$(field kvs <<<"$out")" "5,0" "$l: count_only counts, returns no kvs"
    out=$(probe range /t/p/2 --range-end /t/p/4)
    is "$(grep -c '^kv=' <<<"$out")" 2 "$l: [/t/p/2, /t/p/4) holds two keys"

    # ---- what is kept of a large answer ---------------------------------------------------
    for i in 1 2; do head -c 600000 /dev/zero | tr '\0' x | etcdctl_s put "/t/big/$i" >/dev/null; done
    out=$(probe range /t/big/ --prefix)
    is "$(field kvs <<<"$out"),$(field truncated <<<"$out"),$(field count <<<"$out")" "1,1,2" \
        "$l: of two 600 kB values, the first is kept and the answer marked truncated"
    ok "$l: the kept value is whole" grep -q "value_size=600000 " <<<"$out"
    etcdctl_s del /t/big/ --prefix >/dev/null

    # ---- compacted and future revisions ---------------------------------------------------
    r1=$(revision)
    etcdctl_s put /t/c one >/dev/null
    etcdctl_s put /t/c two >/dev/null
    r2=$(revision)
    etcdctl_s compact "$r2" >/dev/null
    out=$(probe range /t/c --rev "$r1")
    is "$(field error <<<"$out")" ESTALE "$l: a read at a compacted revision: ESTALE"
    ok "$l: its message says so" grep -q "no longer has revision $r1: required revision has been compacted" <<<"$out"
    out=$(probe range /t/c --rev "$r2")
    is "$(grep '^kv=' <<<"$out" | cut -d' ' -f2)" "value=two" "$l: the compaction revision itself is still read"
    out=$(probe range /t/c --rev $((r2 + 1000)))
    is "$(field error <<<"$out")" ERANGE "$l: a read at a future revision: ERANGE"
    ok "$l: its message says so" grep -q "does not have revision $((r2 + 1000)) yet: required revision is a future revision" <<<"$out"
    out=$(probe range /t/c --rev "$r1" --serializable)
    is "$(field error <<<"$out")" ESTALE "$l: a serializable read at a compacted revision too"

    # ---- MemberList, HashKV ---------------------------------------------------------------
    out=$(probe members)
    local id
    id=$(etcdctl_s member list -w fields | efield ID)
    is "$(grep '^member ' <<<"$out")" \
        "member id=$id name=$ETCD_NAME peer=$ETCD_PEER_URL client=$ETCD_ENDPOINT learner=0" \
        "$l: MemberList shows the member: id, name, peer and client URLs, not a learner"
    is "$(field members <<<"$out")" 1 "$l: and no other"
    out=$(probe members --linearizable)
    is "$(field members <<<"$out")" 1 "$l: a linearizable MemberList (ignored by 3.4) too"
    # (HashKV at the compaction revision itself answers "compacted", unlike Range)
    etcdctl_s put /t/h x >/dev/null
    cur=$(revision)
    out=$(probe hashkv --rev "$cur")
    same "$(field hash <<<"$out")" "$(etcdctl_s endpoint hashkv --rev "$cur" -w fields | efield Hash)" \
        "$l: HashKV at the current revision is etcdctl endpoint hashkv's"
    is "$(field compact_revision <<<"$out")" "$r2" "$l: and knows the compaction"
    out=$(probe hashkv --rev "$r1")
    is "$(field error <<<"$out")" ESTALE "$l: HashKV at a compacted revision: ESTALE"

    # ---- the health check -----------------------------------------------------------------
    cur=$(revision)
    out=$(probe health --min-rev "$cur" --compacted-rev "$r1")
    ok "$l: healthy with min = the current revision and a compacted revision that is compacted" \
        test "$(field error <<<"$out")" = "" -a "$(field revision <<<"$out")" = "$cur"
    is "$(field read_refused <<<"$out")" 0 "$l: the linearizable read was served"
    out=$(probe health --min-rev $((cur + 1000000000)))
    is "$(field error <<<"$out")" ENODATA "$l: min above the revision: ENODATA"
    ok "$l: the message says what etcd serves and what was expected" \
        grep -q "serves revision $cur, expected at least $((cur + 1000000000)): the restored data is not what etcd runs" <<<"$out"
    out=$(probe health --compacted-rev "$cur")
    is "$(field error <<<"$out")" EEXIST "$l: a revision expected compacted that is not: EEXIST"
    ok "$l: the message names it" grep -q "still serves revision $cur, which the restore should have left compacted" <<<"$out"
    out=$(probe health --compacted-rev $((cur + 50)))
    is "$(field error <<<"$out")" ENODATA "$l: a revision expected compacted that etcd has not reached: ENODATA"
}

# emembers : etcdctl member list as "DECIMAL_ID name=NAME peer=URL learner=BOOL" lines, sorted
emembers() {
    etcdctl_s member list -w fields | awk -F' : ' '
        $1 == "\"ID\"" { id = $2 } $1 == "\"Name\"" { name = $2; gsub(/"/, "", name) }
        $1 == "\"PeerURL\"" { peer = $2; gsub(/"/, "", peer) }
        $1 == "\"IsLearner\"" { print id " name=" name " peer=" peer " learner=" $2 }' | sort
}

# membership LABEL : MemberAdd of a learner that never starts, MemberPromote refused for it,
# MemberRemove, against the current etcd, compared with etcdctl member list.
membership() {
    local l=$1 out id self lpeer
    self=$(etcdctl_s member list -w fields | efield ID)
    lpeer=http://127.0.0.1:$(sandbox_free_port) || sandbox_bail "no free port"

    out=$(probe member-add --learner --peer "$lpeer" --name joiner)
    id=$(field added_id <<<"$out")
    ok "$l: MemberAdd of a learner answers a new id" test -n "$id" -a "$id" != 0 -a "$id" != "$self"
    is "$(field members <<<"$out")" 2 "$l: and a member list of two"
    is "$(grep "^member id=$id " <<<"$out")" "member id=$id name= peer=$lpeer client= learner=1" \
        "$l: the new one in it: a learner, no name, no client URL yet"
    is "$(grep "^member id=$self " <<<"$out" | cut -d' ' -f2-4,6)" "id=$self name=$ETCD_NAME peer=$ETCD_PEER_URL learner=0" \
        "$l: the old one too, a voter"
    is "$(field initial_cluster <<<"$out" | tr ',' '\n' | sort | tr '\n' ' ')" \
        "$(printf '%s\n' "$ETCD_NAME=$ETCD_PEER_URL" "joiner=$lpeer" | sort | tr '\n' ' ')" \
        "$l: the --initial-cluster for the new one, as etcdctl member add prints it"
    is "$(emembers | tr '\n' ';')" \
        "$(printf '%s\n' "$self name=$ETCD_NAME peer=$ETCD_PEER_URL learner=false" "$id name= peer=$lpeer learner=true" | sort | tr '\n' ';')" \
        "$l: etcdctl member list agrees"
    out=$(probe members)
    is "$(grep -c "^member id=$id name= peer=$lpeer client= learner=1$" <<<"$out")" 1 "$l: and so does our MemberList"

    out=$(probe member-add --learner --peer "$lpeer")
    is "$(field error <<<"$out")" EEXIST "$l: adding the same peer URL again: EEXIST"
    # (etcd 3.4 makes the id from the peer URLs and the time in seconds: within the same second
    # it is the id that exists)
    ok "$l: with etcd's text" grep -Eq \
        "^message=etcd MemberAdd call to $ETCD_ENDPOINT failed: etcdserver: (Peer URLs already exists|member ID already exist)$" <<<"$out"
    out=$(probe member-add --learner --peer "http://127.0.0.1:$(sandbox_free_port)")
    is "$(field error <<<"$out")" EBUSY "$l: a second learner: EBUSY (etcd 3.4 takes one)"
    ok "$l: with etcd's text" grep -q "etcdserver: too many learner members in cluster" <<<"$out"

    out=$(probe member-promote "$id")
    is "$(field error <<<"$out")" EAGAIN "$l: promoting the learner that never started: EAGAIN"
    ok "$l: with etcd's text" \
        grep -q "^message=etcd MemberPromote call to $ETCD_ENDPOINT failed: etcdserver: can only promote a learner member which is in sync with leader" <<<"$out"
    out=$(probe member-promote "$self")
    is "$(field error <<<"$out")" EALREADY "$l: promoting a voter: EALREADY"
    ok "$l: with etcd's text" grep -q "etcdserver: can only promote a learner member$" <<<"$out"

    out=$(probe member-remove "$id")
    is "$(field members <<<"$out")" 1 "$l: MemberRemove of the learner answers a list of one"
    is "$(grep '^member ' <<<"$out" | cut -d' ' -f2)" "id=$self" "$l: the old member"
    is "$(emembers | cut -d' ' -f1)" "$self" "$l: etcdctl member list agrees"
    out=$(probe member-remove "$id")
    is "$(field error <<<"$out")" ENOENT "$l: removing it again: ENOENT"
    ok "$l: with etcd's text" grep -q "etcdserver: member not found" <<<"$out"

    out=$(probe hashkv)
    same "$(field hash <<<"$out")" "$(etcdctl_s endpoint hashkv -w fields | efield Hash)" \
        "$l: HashKV at revision 0 is etcdctl endpoint hashkv's"
    is "$(field member_id <<<"$out")" "$self" "$l: and names the member that answered"
}

# ---- plain etcd ---------------------------------------------------------------------------

sandbox_start_etcd etcd
reads_and_health plain
membership plain


pid=$(systemctl --user show -P MainPID "$ETCD_UNIT")
kill -STOP "$pid"
out=$(probe health --timeout-ms 1500)
ms=$(field elapsed_ms <<<"$out")
is "$(field error <<<"$out")" ETIMEDOUT "etcd stopped by SIGSTOP: the check times out"
ok "within its timeout of 1.5 s (took $ms ms)" test "$ms" -ge 1400 -a "$ms" -lt 2500
ok "its message names the endpoint and the timeout" \
    grep -q "etcd at $ETCD_ENDPOINT did not answer the health check's Status call within 1.5 s" <<<"$out"
out=$(probe health --timeout-ms 20000 --cancel-after-ms 300)
ms=$(field elapsed_ms <<<"$out")
is "$(field error <<<"$out")" ECANCELED "etcd stopped by SIGSTOP: a cancel ends the check"
ok "within a fraction of a second of the cancel at 300 ms (took $ms ms)" test "$ms" -lt 900
out=$(probe range /t/a --timeout-ms 800)
is "$(field error <<<"$out")" ETIMEDOUT "a Range to a frozen etcd times out too"
kill -CONT "$pid"
out=$(probe health)
ok "after SIGCONT it is healthy again" test "$(field error <<<"$out")" = ""

systemctl --user stop "$ETCD_UNIT"
out=$(probe health --timeout-ms 5000)
ms=$(field elapsed_ms <<<"$out")
is "$(field error <<<"$out")" EHOSTUNREACH "etcd not running: EHOSTUNREACH"
ok "at once, not at the timeout (took $ms ms)" test "$ms" -lt 2000
ok "its message says where and what to check" grep -q "call to $ETCD_ENDPOINT failed: .*is etcd running there" <<<"$out"
systemctl --user start "$ETCD_UNIT"

# ---- an alarm -----------------------------------------------------------------------------

sandbox_start_etcd full -- --quota-backend-bytes=1048576
for i in $(seq 8); do
    head -c 300000 /dev/urandom | etcdctl_s put "/t/fill/$i" >/dev/null 2>&1 || break
done
is "$(etcdctl_s alarm list | grep -o 'alarm:NOSPACE')" "alarm:NOSPACE" "etcd with a small quota, filled: NOSPACE raised"
out=$(probe health)
is "$(field error <<<"$out")" ENOSPC "the check fails with ENOSPC"
ok "its message names the alarm and what to do" grep -q "has an alarm raised: .*alarm:NOSPACE.*alarm disarm" <<<"$out"
is "$(field alarms <<<"$out" | grep -o 'alarm:NOSPACE')" "alarm:NOSPACE" "the alarms are reported"
systemctl --user stop full.service

# ---- a large answer -----------------------------------------------------------------------

sandbox_etcd_use etcd
sandbox_etcd_fill 5
out=$(probe range /sandbox/fill/ --prefix)
is "$(field error <<<"$out")" EPROTO "an answer over gRPC's 4 MiB: EPROTO"
ok "its message says it was too large" grep -q "larger than max" <<<"$out"
out=$(probe range /sandbox/fill/ --prefix --limit 2 --keys-only)
is "$(field kvs <<<"$out"),$(field count <<<"$out")" "2,5" "with a limit and keys only it is read"

# ---- a learner that joins and is promoted -------------------------------------------------

promoted() { [[ -z $(probe member-promote "$1" | field error) ]]; }
jpeer=http://127.0.0.1:$(sandbox_free_port) && jclient=http://127.0.0.1:$(sandbox_free_port) ||
    sandbox_bail "no free port"
out=$(probe member-add --learner --peer "$jpeer" --name joiner)
jid=$(field added_id <<<"$out")
ic=$(field initial_cluster <<<"$out")
ok "a learner for the joining etcd is added" test -n "$jid" -a -n "$ic"
mkdir -p "$T/etcd/joiner"
sandbox_user_unit joiner.service <<EOF
[Unit]
Description=sandbox etcd joining as a learner
[Service]
UnsetEnvironment=ETCD_NAME ETCD_DATA_DIR ETCD_ENDPOINT ETCD_PEER_URL ETCD_UNIT ETCD_CACERT ETCD_CERT ETCD_KEY
ExecStart=/usr/bin/etcd --name joiner --data-dir $T/etcd/joiner/data --logger zap --log-outputs stderr \\
    --listen-peer-urls $jpeer --initial-advertise-peer-urls $jpeer \\
    --initial-cluster $ic --initial-cluster-state existing \\
    --listen-client-urls $jclient --advertise-client-urls $jclient
TimeoutStopSec=10
EOF
systemctl --user start joiner.service
ok "once in sync, MemberPromote of it succeeds" wait_until 60 promoted "$jid"
out=$(probe members)
is "$(grep "^member id=$jid " <<<"$out")" "member id=$jid name=joiner peer=$jpeer client=$jclient learner=0" \
    "it is a voter now, with its name and client URL"
is "$(emembers | grep "^$jid " | cut -d' ' -f4)" "learner=false" "etcdctl member list agrees"
etcdctl_s put /t/joined yes >/dev/null
cur=$(revision)
# (the joiner applies the put a moment later: wait for its revision, then compare)
joiner_rev() { [[ $(ETCD_ENDPOINT=$jclient etcdctl_s get / -w json --consistency=s | jq -r .header.revision) -ge $cur ]]; }
ok "the joiner has the newest revision" wait_until 20 joiner_rev
h1=$(probe hashkv --rev "$cur")
h2=$(ETCD_ENDPOINT=$jclient probe hashkv --rev "$cur")
ok "HashKV of both members at one revision is equal" \
    test -n "$(field hash <<<"$h1")" -a "$(field hash <<<"$h1")" = "$(field hash <<<"$h2")"
is "$(field member_id <<<"$h2")" "$jid" "and the second answer is the joiner's"
# (etcd refuses, "unhealthy cluster", to remove a voter until the others were connected for 5 s)
out=$(probe member-remove "$jid")
diag "first MemberRemove of the joiner: $(field error <<<"$out") $(field message <<<"$out")"
removed() { probe member-remove "$1" >/dev/null; [[ $(probe members | field members) == 1 ]]; }
ok "the joiner removed again: one member left" wait_until 30 removed "$jid"
is "$(emembers | cut -d' ' -f1)" "$(probe members | sed -n 's/^member id=\([0-9]*\) .*/\1/p')" \
    "etcdctl member list agrees"
systemctl --user stop joiner.service

# ---- over mutual TLS ----------------------------------------------------------------------

sandbox_start_etcd tls --tls
reads_and_health tls
membership tls
out=$("$PROBE" --endpoint "$ETCD_ENDPOINT" --cacert "$ETCD_CACERT" health --timeout-ms 3000 2>>"$T/probe.err" || true)
is "$(field error <<<"$out")" EHOSTUNREACH "TLS without a client certificate: EHOSTUNREACH"

# etcd authentication on: the client certificate's CN is a user without any role. Status
# still answers, the read is refused after raft: healthy, as for etcdctl endpoint health.
etcdctl_s user add root --new-user-password=root-pw >/dev/null
etcdctl_s role add root >/dev/null
etcdctl_s user grant-role root root >/dev/null
etcdctl_s user add etcd-backup-test-client --new-user-password=unused >/dev/null
etcdctl_s auth enable >/dev/null
cur=$(etcdctl_s --user root:root-pw get / -w json | jq -r .header.revision)
out=$(probe health --min-rev "$cur" --compacted-rev 1)
ok "with etcd authentication refusing the read, the check passes" test "$(field error <<<"$out")" = ""
is "$(field read_refused <<<"$out")" 1 "and says the read was refused"
out=$(probe health --min-rev $((cur + 1)))
is "$(field error <<<"$out")" ENODATA "the revision is still checked, from Status"
out=$(probe range /t/a)
is "$(field error <<<"$out")" EKEYREJECTED "a plain Range is refused: EKEYREJECTED"
out=$(probe hashkv)
is "$(field error <<<"$out")" EKEYREJECTED "HashKV, which needs root: EKEYREJECTED"
out=$(probe member-add --learner --peer "http://127.0.0.1:$(sandbox_free_port)")
is "$(field error <<<"$out")" EKEYREJECTED "MemberAdd, which needs root: EKEYREJECTED"
ok "its message says so" grep -q "membership changes need the root role" <<<"$out"

ok "no sanitizer report from the probe" not grep -q Sanitizer "$T/probe.err"
