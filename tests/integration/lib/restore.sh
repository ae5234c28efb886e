# shellcheck shell=bash
#
# restore.sh - what the restore tests share: a node as Debian and kubeadm lay it out, inside the
# sandbox of sandbox.sh and agent.sh. Source it after both.
#
#   restore_setup [--tls] [AGENT_SETUP_OPTIONS...] [-- SANDBOX_START_ETCD_OPTIONS...]
#                                everything up to a running agent that can restore: etcd as
#                                user `etcd` on $DATA_DIR (etcd:etcd 0700), the stand-in
#                                kube-apiserver.service, agent.conf naming both, polkit
#                                rules for $RESTORER (allowed) and $DENIED (refused); the
#                                options after -- make etcd a member of a cluster
#                                (lib/cluster.sh); the others before it go to agent_setup
#                                (--default-timer, --installed)
#   restore_agent_conf [LINES]   agent.conf for that node, plus LINES; restarts the agent
#   restore_start [--as USER] BACKUP [N KEY TYPE VALUE...]
#                                Restore() by plain busctl (options as busctl words); prints
#                                the object path
#   restore_error [--as USER] BACKUP [OPTIONS]
#                                the D-Bus error name Restore() answers (OPTIONS in GVariant
#                                text, default none), or "none"
#   rprop PATH PROPERTY          a Restore property, unquoted (arrays: the words after the count)
#   restore_wait PATH [TIMEOUT]  waits for a final phase; prints it
#   restore_wait_phase PATH PHASE [TIMEOUT]
#   etcd_revision, etcd_keys [PREFIX], etcd_get KEY, etcd_read_at REV KEY
#   invocation UNIT, unit_ts UNIT PROPERTY, active UNIT
#   standin_events EVENT, standin_switch NAME [VALUE], standin_switch_off NAME
#   data_dir_listing             what is in $DATA_DIR (names, inodes, owners, modes)
#   restore_leftovers            staging dirs and previous data in $DATA_DIR
#   backup_revision ID           the revision a backup was taken at
#   hold WHEN GLOB, release [WHEN GLOB], held REGEX
#                                hold the restore before (WHEN pre) or after (post) the start of
#                                a unit whose name matches GLOB: etcd.service, $STANDIN_UNIT and
#                                the helper's etcd-backup-restore-ID-STEP.service; held: a hold
#                                whose "WHEN UNIT" matches REGEX is being waited at
#   restore_journal_on           a real systemd-journald, and the agent logging to it
#   jctl ARGS...                 journalctl on that journal
#   restore_sane [RESTARTS]      agent_sane, and no sanitizer report in the journal either
#
# Variables: DATA_DIR, RESTORER, DENIED, RESTORE_IFACE, E (error prefix), STANDIN_UNIT,
# STANDIN_LOG, STANDIN_SWITCH, BUMP_DEFAULT.

[[ -n ${_RESTORE_SH_LOADED:-} ]] && return 0
_RESTORE_SH_LOADED=1

RESTORE_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA_DIR=/var/lib/etcd/default   # Debian's etcd.service
RESTORER=etcd-restorer           # a polkit rule lets it restore
DENIED=restore-denied            # a polkit rule refuses it
RESTORE_IFACE=org.etcdbackup.Agent1.Restore
E=org.etcdbackup.Agent1.Error
STANDIN_UNIT=kube-apiserver.service
BUMP_DEFAULT=1000000000
_RESTORE_TLS=0

restore_setup() {
    local -a agent_opts=()
    while [[ ${1:-} == --?* ]]; do
        case $1 in
            --tls) _RESTORE_TLS=1 ;;
            *) agent_opts+=("$1") ;;
        esac
        shift
    done
    [[ ${1:-} == -- ]] && shift
    local -a tls=()
    (( _RESTORE_TLS )) && tls=(--tls)
    sandbox_polkit_rule 52-etcd-backup-restore-test '
polkit.addRule(function(action, subject) {
    if (action.id != "org.etcdbackup.agent1.restore")
        return polkit.Result.NOT_HANDLED;
    if (subject.user == "'"$RESTORER"'")
        return polkit.Result.YES;
    if (subject.user == "'"$DENIED"'")
        return polkit.Result.NO;
    return polkit.Result.NOT_HANDLED;
});'
    agent_setup "${tls[@]}" "${agent_opts[@]}" -- --data-dir "$DATA_DIR" --user etcd "$@"
    # /var/lib/etcd as Debian's package leaves it.
    chown etcd:etcd "$(dirname "$DATA_DIR")" && chmod 0700 "$(dirname "$DATA_DIR")"
    sandbox_add_user "$RESTORER"
    sandbox_add_user "$DENIED"

    STANDIN_LOG=$T/kube-apiserver.events
    STANDIN_SWITCH=$T/kube-apiserver.switch
    mkdir -p "$STANDIN_SWITCH"
    : >"$STANDIN_LOG"
    local -a cert=()
    if (( _RESTORE_TLS )); then
        cert=(--cacert "$ETCD_CACERT" --cert "$ETCD_CERT" --key "$ETCD_KEY")
    fi
    # After= as a real kube-apiserver unit would have it: a boot starts etcd first. No
    # Requires=: the agent's own order of stopping is what is tested.
    sandbox_user_unit "$STANDIN_UNIT" <<EOF
[Unit]
Description=stand-in for kube-apiserver (tests/integration/lib/kube-apiserver-standin.py)
After=etcd.service
[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/bin/python3 $RESTORE_LIB/kube-apiserver-standin.py --endpoint $ETCD_ENDPOINT ${cert[*]} --log $STANDIN_LOG --switch-dir $STANDIN_SWITCH
TimeoutStartSec=60
TimeoutStopSec=60
EOF
    _restore_holds_setup
    systemctl --user start "$STANDIN_UNIT" ||
        sandbox_bail "the kube-apiserver stand-in did not start (see $SANDBOX_LOG_DIR/$STANDIN_UNIT.log)"
    restore_agent_conf
}

# restore_agent_conf [LINES] : agent.conf for the node of restore_setup, then LINES (more keys
# or sections; a key given again in its section wins), and the agent restarted on it.
restore_agent_conf() {
    local tls=""
    if (( _RESTORE_TLS )); then
        tls="TrustedCAFile=/etc/kubernetes/pki/etcd/ca.crt
CertFile=/etc/kubernetes/pki/etcd/healthcheck-client.crt
KeyFile=/etc/kubernetes/pki/etcd/healthcheck-client.key"
    fi
    agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT
$tls
DataDir=$DATA_DIR
Unit=etcd.service
Name=$ETCD_NAME
InitialAdvertisePeerURLs=$ETCD_PEER_URL
InitialCluster=$ETCD_NAME=$ETCD_PEER_URL
InitialClusterToken=sandbox-$ETCD_NAME-$$
RestoreCommand=/usr/bin/etcdctl
[ControlPlane]
Units=$STANDIN_UNIT
${1:-}"
    agent_restart
}

# restore_start [--as USER] BACKUP [N KEY TYPE VALUE...] : Restore() as busctl makes it; prints
# the restore's object path. busctl's own timeout (25 s) is plenty: the call answers at once.
restore_start() {
    local -a as=()
    if [[ $1 == --as ]]; then as=(sandbox_as "$2"); shift 2; fi
    local backup=$1; shift
    (( $# )) || set -- 0
    "${as[@]}" busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" Restore 'sa{sv}' "$backup" "$@" |
        sed -n 's/^o "\(.*\)"$/\1/p' | grep .
}

restore_error() {
    local -a as=()
    if [[ $1 == --as ]]; then as=(--as "$2"); shift 2; fi
    local opts=${2:-'@a{sv} {}'}
    call_error "${as[@]}" "$AGENT_PATH" "$AGENT_MANAGER.Restore" "$1" "$opts"
}

# rprop PATH PROPERTY
rprop() {
    local out
    out=$(busctl --system get-property "$AGENT_NAME" "$1" "$RESTORE_IFACE" "$2") || return 1
    case $out in
        a*) cut -d' ' -f3- <<<"$out" | tr -d '"' ;;
        *) cut -d' ' -f2- <<<"$out" | sed 's/^"//; s/"$//' ;;
    esac
}

_restore_final() {
    case $(rprop "$1" Phase) in completed|rolled-back|failed) return 0 ;; esac
    return 1
}

# restore_wait PATH [TIMEOUT_S] : prints the final phase (or the phase it is stuck in).
restore_wait() {
    wait_until "${2:-120}" _restore_final "$1" || true
    rprop "$1" Phase
    [[ $(rprop "$1" ErrorName) == "" ]] || diag "$1: $(rprop "$1" ErrorName): $(rprop "$1" Error)"
}

_restore_in_phase() { [[ $(rprop "$1" Phase) == "$2" ]]; }
restore_wait_phase() { wait_until "${3:-60}" _restore_in_phase "$1" "$2"; }

etcd_revision() { etcdctl_s endpoint status -w json | jq -r '.[0].Status.header.revision'; }
etcd_keys() { etcdctl_s get --prefix --keys-only "${1:-/}" | sed '/^$/d'; }
etcd_get() { etcdctl_s get --print-value-only "$1"; }
# etcd_read_at REV KEY : the read's output and error text (etcdctl says "required revision has
# been compacted").
etcd_read_at() { etcdctl_s get --rev="$1" "$2" 2>&1; }

invocation() { systemctl --user show -P InvocationID "$1"; }
unit_ts() { systemctl --user show -P "$2" "$1"; }
active() { [[ $(systemctl --user is-active "$1") == active ]]; }

# standin_events EVENT : the monotonic ns of every EVENT line of the stand-in, one per line.
standin_events() { awk -v e="$1" '$1 == e { print $2 }' "$STANDIN_LOG"; }
standin_switch() { printf '%s\n' "${2:-1}" >"$STANDIN_SWITCH/$1"; }
standin_switch_off() { rm -f "$STANDIN_SWITCH/$1"; }

# data_dir_listing : every name below $DATA_DIR with inode, owner and mode (not sizes: a running
# etcd writes into its files).
data_dir_listing() { find "$DATA_DIR" -printf '%P %i %u:%g %m\n' | sort; }
restore_leftovers() {
    find "$DATA_DIR" -mindepth 1 -maxdepth 1 \( -name '.restore-*' -o -name 'member.before-restore-*' \) -printf '%f\n' | sort
}

backup_revision() { ctl --json list-backups | jq -r --arg id "$1" '.[] | select(.id == $id) | .revision'; }

# ---- holding a restore in a phase --------------------------------------------------------------

# Drop-ins run lib/restore-test-hold before and after the start of every unit a restore starts
# (a prefix drop-in, etcd-backup-restore-.service.d, reaches the helper's transient units).
_restore_holds_setup() {
    install -m 0755 "$RESTORE_LIB/restore-test-hold" /usr/local/bin/restore-test-hold
    mkdir -p -m 0755 /run/restore-test
    : >/run/restore-test/holds
    chmod 0644 /run/restore-test/holds
    local u
    for u in etcd.service "$STANDIN_UNIT" etcd-backup-restore-.service; do
        mkdir -p "$USER_UNIT_DIR/$u.d"
        printf '[Service]\nExecStartPre=/usr/local/bin/restore-test-hold pre %%n\nExecStartPost=/usr/local/bin/restore-test-hold post %%n\n' \
            >"$USER_UNIT_DIR/$u.d/50-test-hold.conf"
    done
    systemctl --user daemon-reload
}

hold() { echo "$1 $2" >>/run/restore-test/holds; }
# release [WHEN GLOB] : that hold, or every one.
release() {
    if (( $# )); then
        grep -vxF "$1 $2" /run/restore-test/holds >/run/restore-test/holds.new || true
        cat /run/restore-test/holds.new >/run/restore-test/holds
        rm -f /run/restore-test/holds.new
    else
        : >/run/restore-test/holds
    fi
}
held() { pgrep -f "restore-test-hold $1" >/dev/null; }

# ---- the journal -------------------------------------------------------------------------------

# restore_journal_on : the agent's fields (RESTORE_ID=, MESSAGE_ID=) reach only a journal: a real
# systemd-journald on the sandbox's /run (volatile storage), and the agent's output sent to it.
restore_journal_on() {
    mkdir -p /etc/systemd/journald.conf.d /run/systemd/journal
    printf '[Journal]\nStorage=volatile\nRateLimitBurst=0\n' >/etc/systemd/journald.conf.d/50-sandbox.conf
    /usr/lib/systemd/systemd-journald </dev/null >>"$SANDBOX_LOG_DIR/journald.log" 2>&1 {_SANDBOX_TAP_FD}>&- &
    _sandbox_record_pid journald $!
    wait_until 10 test -S /run/systemd/journal/stdout || sandbox_bail "systemd-journald did not start"
    printf '[Service]\nStandardOutput=journal\nStandardError=inherit\n' >"$USER_UNIT_DIR/$AGENT_UNIT.d/zz-journal.conf"
    systemctl --user daemon-reload
    agent_restart
}

jctl() { journalctl --directory=/run/log/journal --no-pager "$@"; }

restore_sane() {
    agent_sane "${1:-0}"
    if [[ -S /run/systemd/journal/stdout ]]; then
        ok "no sanitizer report in the agent's journal" \
            not bash -c "journalctl --directory=/run/log/journal --no-pager -o cat SYSLOG_IDENTIFIER=etcd-backupd 2>/dev/null |
                grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:'"
    fi
}
