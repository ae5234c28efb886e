#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion of etcd-backupctl (shell/etcd-backupctl, $1): sourced in bash, against a
# stand-in etcd-backupctl (a function, found before any on PATH), COMPREPLY for verbs, options
# and the names the agent has.
set -u
n=0 failed=0
# complete WORDS...: COMPREPLY, sorted on one line, for the last word being completed.
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _etcd_backupctl
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}
is() {
    n=$((n + 1))
    if [[ $1 == "$2" ]]; then
        echo "ok $n - $3"
    else
        echo "not ok $n - $3"
        echo "#   got:      '$1'"
        echo "#   expected: '$2'"
        failed=$((failed + 1))
    fi
}

# shellcheck source=/dev/null
source "$1"

agent_up=1
etcd-backupctl() {
    [[ $agent_up == 1 ]] || { echo "Failed to connect to the system bus" >&2; return 1; }
    case " $* " in
        *" list-configs "*) printf 'nightly   daily ...\nhourly    hourly ...\n' ;;
        *" list-backups "*) printf '0b5e4a10-0000-4000-8000-000000000001 nightly ...\n' ;;
        *" list-restores "*) printf 'r1 restore ...\n' ;;
    esac
}

is "$(complete_words etcd-backupctl li)" "list-backups list-configs list-restores" "a verb prefix"
is "$(complete_words etcd-backupctl st)" "status stop-control-plane" "st: status stop-control-plane"
is "$(complete_words etcd-backupctl --no-p)" "--no-pager" "an option prefix"
is "$(complete_words etcd-backupctl -q re)" "rejoin remove-config restore restore-status" "verbs after an option"
is "$(complete_words etcd-backupctl --json = p)" "pretty" "--json=p"
is "$(complete_words etcd-backupctl backup n)" "nightly" "backup: configuration names from the agent"
is "$(complete_words etcd-backupctl --quiet set-config "")" "hourly nightly" "set-config: all of them"
is "$(complete_words etcd-backupctl verify 0b)" "0b5e4a10-0000-4000-8000-000000000001" "verify: backup ids"
is "$(complete_words etcd-backupctl restore-status "")" "r1" "restore-status: restore ids"
is "$(complete_words etcd-backupctl --config = "")" "hourly nightly" "--config=: configuration names"
is "$(complete_words etcd-backupctl list-configs "")" "" "list-configs takes nothing"
agent_up=0
is "$(complete_words etcd-backupctl backup "")" "" "no agent: nothing, and quietly"
is "$(complete_words etcd-backupctl bac 2>&1)" "backup" "  verbs still"

echo "1..$n"
[[ $failed == 0 ]]
