# shellcheck shell=bash
#
# agent.sh - the etcd backup agent inside the sandbox of sandbox.sh: installed from the
# build dir with meson install, run by the systemd user manager from its installed unit
# file, on a private system bus enforcing the installed policy, asking a real polkitd,
# backing up a real etcd. Source it after sandbox.sh.
#
#   agent_setup [--tls] [--default-timer] [--installed] [-- SANDBOX_START_ETCD_OPTIONS...]
#                                everything up to a running agent (see below)
#   agent_config TEXT            write /etc/etcd-backup/agent.conf
#   agent_start / agent_stop / agent_restart
#   agent_pid                    main pid of etcd-backupd.service
#   ctl ARGS...                  etcd-backupctl as root
#   call_error [--as USER] PATH INTERFACE.METHOD ARGS...
#                                prints the D-Bus error name a call gets, or "none"
#   backup_path ID, prop PATH PROPERTY, failed_backups
#   storage_files PATTERN        files of the storage directory matching PATTERN
#   endpoint_service NAME PORT COMMAND...
#                                a stand-in for etcd at 127.0.0.1:PORT, as user unit NAME
#   agent_sane [RESTARTS]        checks for the end of a test: the agent never
#                                restarted (but as often as the test killed it), no
#                                sanitizer report in its log
#
# BUILD_DIR (default: build) is a meson build dir configured with --prefix=/usr.

BUILD_DIR=${BUILD_DIR:-build}
AGENT_UNIT=etcd-backupd.service
AGENT_NAME=org.etcdbackup.Agent1
AGENT_PATH=/org/etcdbackup/Agent1
AGENT_MANAGER=org.etcdbackup.Agent1.Manager
AGENT_BACKUP=org.etcdbackup.Agent1.Backup
STORAGE=/var/lib/etcd-backup
OPERATOR=etcd-operator     # in group etcdbackup-operators: a test rule lets it back up
OUTSIDER=outsider          # no rule: polkit's defaults apply

# agent_setup [--tls] [--default-timer] [-- OPTIONS...] : installs the project, starts the private system
# bus, the user manager, polkitd (with a rule for $OPERATOR), an etcd as user unit
# etcd.service (with client certificates required when --tls), writes agent.conf for it and
# starts the agent from its installed unit (OPTIONS go to sandbox_start_etcd: --data-dir, --user). The built-in "default" configuration is disabled
# unless --default-timer is given: its timer fires at :00, :20 and :40, and a test that is
# not about it must not get a backup it did not ask for. --installed: the project is installed
# already, by other means than BUILD_DIR (test-package.sh's dpkg -i, in the overlays): no meson
# install, and no sanitizer settings for the agent's units (that build is not a sanitizer one).
agent_setup() {
    local tls=() default_timer=0 installed=0 etcd_opts=()
    while (( $# )); do
        case $1 in
            --tls) tls=(--tls) ;;
            --default-timer) default_timer=1 ;;
            --installed) installed=1 ;;
            --) shift; etcd_opts=("$@"); break ;;
        esac
        shift
    done

    if (( installed )); then
        sandbox_overlay_system
    else
        sandbox_install "$BUILD_DIR"
    fi
    # After the overlays are in place: /etc is the sandbox's own from here on.
    if (( ! default_timer )); then
        mkdir -p /etc/etcd-backup/configs
        printf '[Backup]\nSchedule=@every 20m\nEnabled=no\n' >/etc/etcd-backup/configs/default.conf
    fi
    # With systemd activation the user manager owns org.freedesktop.systemd1 on the system
    # bus, as PID 1 does on a real one: the agent (Scope=system, the default) makes its timers
    # there, and a call to the agent when it is not running starts it (bus activation).
    sandbox_start_system_bus --systemd-activation
    sandbox_start_user_manager
    sandbox_add_user "$OPERATOR" etcdbackup-operators
    sandbox_add_user "$OUTSIDER"
    sandbox_polkit_rule 50-etcd-backup-test '
polkit.addRule(function(action, subject) {
    if (action.id == "org.etcdbackup.agent1.backup" && subject.isInGroup("etcdbackup-operators"))
        return polkit.Result.YES;
});'
    sandbox_start_polkitd
    sandbox_start_etcd etcd "${tls[@]}" "${etcd_opts[@]}"

    if (( ${#tls[@]} )); then
        # Where kubeadm keeps them; $T is out of sight of the agent (PrivateTmp=yes).
        mkdir -p /etc/kubernetes/pki/etcd
        cp "$ETCD_CACERT" /etc/kubernetes/pki/etcd/ca.crt
        cp "$ETCD_CERT" /etc/kubernetes/pki/etcd/healthcheck-client.crt
        cp "$ETCD_KEY" /etc/kubernetes/pki/etcd/healthcheck-client.key
        agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT
TrustedCAFile=/etc/kubernetes/pki/etcd/ca.crt
CertFile=/etc/kubernetes/pki/etcd/healthcheck-client.crt
KeyFile=/etc/kubernetes/pki/etcd/healthcheck-client.key"
    else
        agent_config "[Etcd]
Endpoint=$ETCD_ENDPOINT"
    fi

    sandbox_link_system_unit "$AGENT_UNIT" etcd-backup@.service etcd-backup@.timer
    # Two differences of the user manager: StateDirectory= is below $XDG_STATE_HOME, so the
    # storage directory needs the ReadWritePaths= any non-default [Storage] Directory= needs;
    # and its control directory for drop-ins is below $XDG_CONFIG_HOME, not
    # /etc/systemd/system.control. Sanitizer settings of the test run reach the agent (of a
    # meson install from BUILD_DIR only).
    CONTROL_DIR=$XDG_CONFIG_HOME/systemd/user.control
    # (a restore's drop-in for etcd goes to the runtime one, as /run/systemd/system.control)
    RUNTIME_CONTROL_DIR=$XDG_RUNTIME_DIR/systemd/user.control
    mkdir -p "$USER_UNIT_DIR/$AGENT_UNIT.d" "$STORAGE" "$CONTROL_DIR" "$RUNTIME_CONTROL_DIR" "$USER_UNIT_DIR/etcd-backup@.timer.d"
    # Timers elapse on the second, not within a minute: tests wait for them.
    printf '[Timer]\nAccuracySec=1s\n' >"$USER_UNIT_DIR/etcd-backup@.timer.d/test.conf"
    {
        echo "[Service]"
        echo "ReadWritePaths=$STORAGE $CONTROL_DIR $RUNTIME_CONTROL_DIR"
        if (( ! installed )) && [[ -n ${ASAN_OPTIONS:-} ]]; then
                echo "Environment=ASAN_OPTIONS=$ASAN_OPTIONS"
                # LeakSanitizer stops the process with ptrace() to scan it at exit,
                # which @system-service does not allow.
                echo "SystemCallFilter=@debug"
                # That scan stops the agent with a SIGSTOP, and systemd follows each SIGTERM
                # it sends with a SIGCONT, which discards a pending SIGSTOP: arriving late (a
                # loaded machine), it left the scan waiting forever and the stop timing out
                # (seen in CI). ExecStop= sends the SIGCONT first (a frozen agent wakes, as a
                # test wants), then the SIGTERM, and waits for the agent to exit: systemd's own
                # SIGTERM and SIGCONT come after it, to nobody.
                echo "ExecStop=/bin/sh -c 'kill -CONT \$\$MAINPID; kill -TERM \$\$MAINPID; while kill -0 \$\$MAINPID 2>/dev/null; do sleep 0.1; done'"
        fi
        if (( ! installed )); then
            [[ -n ${UBSAN_OPTIONS:-} ]] && echo "Environment=UBSAN_OPTIONS=$UBSAN_OPTIONS"
            [[ -n ${LSAN_OPTIONS:-} ]] && echo "Environment=LSAN_OPTIONS=$LSAN_OPTIONS"
        fi
    } >"$USER_UNIT_DIR/$AGENT_UNIT.d/test.conf"
    # The timers' service runs etcd-backupctl, also built with the sanitizers then: the same
    # ptrace() at exit, which its unit's filter refuses too.
    mkdir -p "$USER_UNIT_DIR/etcd-backup@.service.d"
    if (( ! installed )) && [[ -n ${ASAN_OPTIONS:-} ]]; then
        printf '[Service]\nSystemCallFilter=@debug\nEnvironment=ASAN_OPTIONS=%s\n' "$ASAN_OPTIONS" \
            >"$USER_UNIT_DIR/etcd-backup@.service.d/test.conf"
        [[ -n ${LSAN_OPTIONS:-} ]] && echo "Environment=LSAN_OPTIONS=$LSAN_OPTIONS" >>"$USER_UNIT_DIR/etcd-backup@.service.d/test.conf"
        [[ -n ${UBSAN_OPTIONS:-} ]] && echo "Environment=UBSAN_OPTIONS=$UBSAN_OPTIONS" >>"$USER_UNIT_DIR/etcd-backup@.service.d/test.conf"
    fi
    systemctl --user daemon-reload
    agent_start
}

agent_config() {
    mkdir -p /etc/etcd-backup
    printf '%s\n' "$1" >/etc/etcd-backup/agent.conf
}

agent_start() {
    systemctl --user start "$AGENT_UNIT" ||
        sandbox_bail "etcd-backupd did not start (see $SANDBOX_LOG_DIR/$AGENT_UNIT.log)"
}

agent_stop() { systemctl --user stop "$AGENT_UNIT"; }
agent_restart() { agent_stop && agent_start; }
agent_pid() { systemctl --user show -P MainPID "$AGENT_UNIT"; }

ctl() { etcd-backupctl --no-ask-password "$@"; }

# call_error [--as USER] PATH INTERFACE.METHOD ARGS... : makes the call with gdbus (which,
# unlike busctl, shows error names; ARGS in GVariant text, bare words for strings) and prints
# the error name, or "none". gdbus does not allow interactive authorization.
call_error() {
    local -a as=()
    if [[ $1 == --as ]]; then as=(sandbox_as "$2"); shift 2; fi
    local path=$1 method=$2 out
    shift 2
    if out=$("${as[@]}" gdbus call --system --dest "$AGENT_NAME" --object-path "$path" --method "$method" "$@" 2>&1); then
        echo none
    else
        sed -n 's/^Error: GDBus.Error:\([^:]*\):.*/\1/p' <<<"$out"
    fi
}

backup_path() {
    busctl --system call "$AGENT_NAME" "$AGENT_PATH" "$AGENT_MANAGER" GetBackup s "$1" | awk '{print $2}' | tr -d '"'
}

# prop PATH PROPERTY : a Backup property's value, unquoted.
prop() {
    busctl --system get-property "$AGENT_NAME" "$1" "$AGENT_BACKUP" "$2" | cut -d' ' -f2- | sed 's/^"//; s/"$//'
}

# failed_backups : object paths of the failed backups the agent keeps, one per line.
failed_backups() {
    busctl --system --json=short call "$AGENT_NAME" "$AGENT_PATH" org.freedesktop.DBus.ObjectManager GetManagedObjects |
        jq -r --arg i "$AGENT_BACKUP" '.data[0] | to_entries[] | select(.value[$i].State.data == "failed") | .key'
}

# endpoint_service NAME PORT COMMAND... : runs COMMAND (absolute, with systemd's escapes) as user
# unit NAME.service, a stand-in for etcd listening at 127.0.0.1:PORT, and waits until it listens.
# The user manager stops it with the sandbox.
endpoint_service() {
    local name=$1 port=$2
    shift 2
    sandbox_user_unit "$name.service" <<UNIT
[Service]
ExecStart=$*
UNIT
    systemctl --user start "$name.service"
    wait_until 10 bash -c "ss -Htln '( sport = :$port )' | grep -q ."
}

storage_files() {
    find "$STORAGE" -mindepth 1 -maxdepth 1 -name "$1" -printf '%f\n' | sort
}

# agent_sane [RESTARTS] : the agent restarted RESTARTS times (default 0: a test that kills it
# says how often), and no sanitizer report is in its log.
agent_sane() {
    local restarts
    restarts=$(systemctl --user show -P NRestarts "$AGENT_UNIT")
    is "$restarts" "${1:-0}" "the agent never crashed or restarted (but for the ${1:-0} restarts the test caused)"
    ok "no sanitizer report in the agent's log" \
        not grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SANDBOX_LOG_DIR/$AGENT_UNIT.log"
}
