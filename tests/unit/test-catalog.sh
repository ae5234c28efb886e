#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The journal catalog against the sources: every MESSAGE_ID the agent defines has an entry in
# catalog/etcd-backup.catalog and every entry is one the agent defines; and journalctl itself
# compiles the file (as `journalctl --update-catalog` does once it is installed) and lists
# each id with its subject. No root needed: journalctl works on a --root of our own.
set -u
src=${1:?usage: test-catalog.sh SOURCE_ROOT}
catalog=$src/catalog/etcd-backup.catalog
n=0 failed=0
ok() { n=$((n + 1)); if "${@:2}"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=1; fi; }

defined=$(grep -rhoE '#define MESSAGE_ID_[A-Z0-9_]+ "[0-9a-f]{32}"' "$src/agent" | grep -oE '[0-9a-f]{32}' | sort)
entries=$(grep -oE '^-- [0-9a-f]{32}$' "$catalog" | cut -c4- | sort)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

ok "the sources define message ids" test -n "$defined"
ok "no id is defined twice in the sources" test -z "$(uniq -d <<<"$defined")"
ok "no id has two entries in the catalog" test -z "$(uniq -d <<<"$entries")"
for id in $defined; do
    ok "$id (of $(grep -rhoE "MESSAGE_ID_[A-Z0-9_]+ \"$id\"" "$src/agent" | cut -d' ' -f1)) has an entry" \
        grep -qx -- "-- $id" "$catalog"
done
for id in $entries; do
    ok "the entry $id is an id the agent logs" grep -qx "$id" <<<"$defined"
done
# Each entry has the headers journalctl -x shows.
ok "every entry has Subject:, Defined-By: and Support:" \
    test "$(grep -c '^Subject: ' "$catalog")" = "$(wc -l <<<"$entries")" -a \
         "$(grep -c '^Defined-By: etcd-backup-agent$' "$catalog")" = "$(wc -l <<<"$entries")" -a \
         "$(grep -c '^Support: ' "$catalog")" = "$(wc -l <<<"$entries")"

mkdir -p "$T/usr/lib/systemd/catalog"
cp "$catalog" "$T/usr/lib/systemd/catalog/"
ok "journalctl --update-catalog compiles it" journalctl --root="$T" --update-catalog
journalctl --root="$T" --list-catalog >"$T/list" 2>&1
for id in $entries; do
    subject=$(awk -v id="-- $id" '$0 == id { getline; sub(/^Subject: /, ""); print; exit }' "$catalog")
    ok "journalctl --list-catalog lists $id: $subject" grep -qxF "$id etcd-backup-agent: $subject" "$T/list"
done
ok "and nothing else" test "$(wc -l <"$T/list")" = "$(wc -l <<<"$entries")"
echo "1..$n"
exit $failed
