#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# README's list of test files ($1: the README, $2: the tests directory) against the test files:
# every unit and integration test is listed, and every file listed exists.

readme=$1 tests=$2
n=0 failed=0

check() {
    n=$((n + 1))
    if "${@:2}"; then echo "ok $n - $1"; else echo "not ok $n - $1"; failed=$((failed + 1)); fi
}

listed() { grep -q "^| \`$1\` |" "$readme"; }

for f in "$tests"/unit/test-*.c "$tests"/unit/test-*.sh "$tests"/integration/test-*.sh; do
    rel=tests/${f#"$tests"/}
    check "$rel is in README's list" listed "$rel"
done
while read -r rel; do
    [[ $rel == *'*'* ]] && continue
    check "README's $rel exists" test -e "$tests/../$rel"
done < <(sed -n 's/^| `\(tests\/[^`]*\)` |.*/\1/p' "$readme")
echo "1..$n"
[ "$failed" -eq 0 ]
