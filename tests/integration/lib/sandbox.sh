# shellcheck shell=bash
#
# sandbox.sh - run the real system services of an etcd backup node inside one test.
#
# Source it from an integration test script (as root) and call `sandbox_enter "$@"`
# first. The test then runs in a private mount namespace and a cgroup of its own, and
# can start, for real and without touching the machine (see /work/shared/SANDBOX.md):
# the project installed at its real paths (overlays on /usr, /etc, /var), a systemd
# user manager, a private system D-Bus enforcing the installed policy, polkitd, and
# etcd members (plain or TLS). On exit everything the test started is stopped, its
# cgroups removed, its temp dir deleted (KEEP_SANDBOX=1 keeps it); the mounts vanish
# with the namespace. Only recorded pids and processes inside the test's own cgroup
# are ever killed. stdout carries only TAP; daemon output goes to $T/logs.
#
# Functions (each documented where it is defined):
#   sandbox_enter "$@"                  namespace, $T, cgroup, teardown trap
#   sandbox_install BUILD_DIR           overlays + meson install (prefix /usr)
#   sandbox_overlay_system              overlays only
#   sandbox_add_user NAME [GROUP]       user (and group) existing only in here
#   sandbox_as USER CMD...              run CMD as USER (setpriv --init-groups)
#   sandbox_start_system_bus [--systemd-activation]
#   sandbox_start_user_manager          systemd --user; units in $USER_UNIT_DIR
#   sandbox_user_unit NAME <<EOF        write a user unit (+ daemon-reload)
#   sandbox_link_system_unit UNIT...    use installed system units in the user manager
#   sandbox_polkit_rule NAME JS         /etc/polkit-1/rules.d/NAME.rules
#   sandbox_start_polkitd
#   sandbox_start_etcd NAME [--tls] [--data-dir DIR] [--user USER] [--member NAME]
#                      [--ports CLIENT PEER] [--cluster LIST --token TOKEN] [-- ARGS...]
#                                       etcd as user unit NAME.service
#   sandbox_etcd_use NAME, etcdctl_s ARGS..., sandbox_etcd_fill MB,
#   sandbox_etcd_put_keys N, sandbox_free_port, sandbox_pki
#   sandbox_on_host CMD...              run CMD in the mount namespace outside
#   sandbox_on_exit CMD...              extra teardown step (no own EXIT traps!)
#   sandbox_bail MSG                    TAP "Bail out!" and exit
#   wait_until TIMEOUT_S CMD...         poll every 0.1 s
#   TAP: plan_begin, ok DESC CMD..., is GOT EXPECTED DESC, skip DESC REASON,
#        diag TEXT, not CMD... (plan line "1..N" printed at exit; exit 1 on failure)
#
# Variables set for the test:
#   T, SANDBOX_LOG_DIR ($T/logs; user units log to $T/logs/<unit>.log)
#   XDG_RUNTIME_DIR (/run/sandbox-xdg), XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME
#   XDG_CACHE_HOME (below /run/sandbox-home): all on the sandbox's own /run
#   USER_UNIT_DIR (= $XDG_CONFIG_HOME/systemd/user)
#   DBUS_SESSION_BUS_ADDRESS (the user manager's API bus), DBUS_SYSTEM_BUS_ADDRESS
#   ETCD_NAME ETCD_ENDPOINT ETCD_DATA_DIR ETCD_PEER_URL ETCD_UNIT
#   [ETCD_CACERT ETCD_CERT ETCD_KEY]  (etcd started last, or chosen by sandbox_etcd_use)
# Knobs: KEEP_SANDBOX=1, SANDBOX_SYSTEMD_LOG_LEVEL=debug, SANDBOX_SYSTEMD, SANDBOX_POLKITD.
# For a sandbox started inside another one (lib/cluster.sh: one per node): SANDBOX_LOGS=DIR puts
# the daemon logs into DIR (the enclosing sandbox's log dir) instead of $T/logs;
# SANDBOX_INSTALLED=BUILD_DIR says the enclosing sandbox installed BUILD_DIR already, so
# sandbox_install BUILD_DIR only lays this sandbox's overlays over that install.

[[ -n ${_SANDBOX_SH_LOADED:-} ]] && return 0
_SANDBOX_SH_LOADED=1

SANDBOX_SYSTEMD=${SANDBOX_SYSTEMD:-/usr/lib/systemd/systemd}
SANDBOX_POLKITD=${SANDBOX_POLKITD:-/usr/lib/polkit-1/polkitd}

_SANDBOX_PIDS=()          # "name:pid" of daemons we started, in start order
_SANDBOX_MOUNTS=()        # mount points we mounted, in mount order
_SANDBOX_CGROUPS=()       # our test cgroup, one absolute dir per hierarchy
_SANDBOX_CGROUP_PARENTS=()
_SANDBOX_EXIT_HOOKS=()
_SANDBOX_SYSTEMD_ACTIVATION=0

# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------

_sandbox_log() { printf 'sandbox: %s\n' "$*" >&2; }

# Abort the whole test: TAP "Bail out!" tells the harness nothing after it counts.
sandbox_bail() {
    printf 'Bail out! %s\n' "$*" >&"${_SANDBOX_TAP_FD:-1}"
    _SANDBOX_BAILED=1
    exit 1
}

# wait_until TIMEOUT_S COMMAND... : run COMMAND every 0.1 s until it succeeds;
# fails after TIMEOUT_S seconds (decimals allowed). COMMAND's output is discarded.
wait_until() {
    local timeout=$1; shift
    local sec=${timeout%%.*} frac=${timeout#*.}
    [[ $timeout == *.* ]] || frac=0
    frac=${frac}000000; frac=${frac:0:6}
    local now=${EPOCHREALTIME/./}
    local deadline=$(( now + ${sec:-0} * 1000000 + 10#$frac ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        (( ${EPOCHREALTIME/./} >= deadline )) && return 1
        sleep 0.1
    done
}

# True if PID exists and is not a zombie (kill -0 succeeds on zombies).
_sandbox_pid_alive() {
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# True if PID lives in our test cgroup (or below): the proof that we started it,
# so a recycled pid can never make us kill a stranger.
_sandbox_pid_is_ours() {
    grep -q "/etcd-backup-test-$$\(/\|$\)" "/proc/$1/cgroup" 2>/dev/null
}

# Remember a daemon we started. Background jobs are also dropped from the job table,
# so that a plain `wait` in a test does not wait for the daemons forever.
_sandbox_record_pid() {
    _SANDBOX_PIDS+=("$1:$2")
    disown "$2" 2>/dev/null || true
}

_sandbox_pid_of() {
    local e
    for e in "${_SANDBOX_PIDS[@]}"; do
        [[ ${e%%:*} == "$1" ]] && { echo "${e#*:}"; return 0; }
    done
    return 1
}

# sandbox_on_exit COMMAND... : run COMMAND at teardown, before the daemons are stopped.
# (Do not install your own EXIT trap: it would replace the sandbox's.)
sandbox_on_exit() { _SANDBOX_EXIT_HOOKS+=("$(printf '%q ' "$@")"); }

# sandbox_on_host COMMAND... : run COMMAND in the mount namespace the test was started
# from (to check that nothing leaked out of the sandbox).
sandbox_on_host() {
    local p=$PPID    # the process that started the test stays outside
    if [[ ! -e /proc/$p/ns/mnt || $(readlink /proc/$p/ns/mnt) == "$(readlink /proc/self/ns/mnt)" ]]; then
        p=1
    fi
    nsenter --target="$p" --mount -- "$@"
}

# sandbox_as USER COMMAND... : run COMMAND as USER with its groups (setpriv).
sandbox_as() {
    local user=$1; shift
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
}

# ----------------------------------------------------------------------------
# TAP
# ----------------------------------------------------------------------------

# TAP lines go to the fd that was stdout when sandbox_enter ran, so that they reach
# the harness even from inside a command whose output `ok` is capturing.
_TAP_N=0
_TAP_FAILED=0
_TAP_ACTIVE=0
TAP_LAST_RC=0

# shellcheck disable=SC2059  # the format comes from the callers here
_tap_print() { printf "$@" >&"${_SANDBOX_TAP_FD:-1}"; }

plan_begin() { _TAP_N=0; _TAP_FAILED=0; _TAP_ACTIVE=1; }

_tap_desc() { local d=$*; printf '%s' "${d//#/\\#}"; }

_tap_result() {   # _tap_result PASSED DESCRIPTION
    _TAP_N=$((_TAP_N + 1))
    if [[ $1 == 1 ]]; then
        _tap_print 'ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$2")"
    else
        _TAP_FAILED=$((_TAP_FAILED + 1))
        _tap_print 'not ok %d - %s\n' "$_TAP_N" "$(_tap_desc "$2")"
    fi
}

# ok DESCRIPTION COMMAND... : one test that passes if COMMAND exits 0. On failure the
# command and its output are printed as TAP comments. Always returns 0 so the test
# script goes on; the command's status is left in TAP_LAST_RC.
ok() {
    local desc=$1; shift
    local out=${T:-/tmp}/.tap-out.$$.$_TAP_N
    if "$@" >"$out" 2>&1; then
        TAP_LAST_RC=0
        _tap_result 1 "$desc"
    else
        TAP_LAST_RC=$?
        _tap_result 0 "$desc"
        _tap_print '#   command (exit %d):%s\n' "$TAP_LAST_RC" "$(printf ' %q' "$@")"
        sed 's/^/#   /' "$out" >&"${_SANDBOX_TAP_FD:-1}"
    fi
    rm -f "$out"
    return 0
}

# is GOT EXPECTED DESCRIPTION
is() {
    if [[ $1 == "$2" ]]; then
        _tap_result 1 "$3"
    else
        _tap_result 0 "$3"
        _tap_print '#   got:      %s\n#   expected: %s\n' \
            "${1//$'\n'/$'\n#             '}" "${2//$'\n'/$'\n#             '}"
    fi
    return 0
}

# skip DESCRIPTION REASON
skip() {
    _TAP_N=$((_TAP_N + 1))
    _tap_print 'ok %d - %s # SKIP %s\n' "$_TAP_N" "$(_tap_desc "$1")" "$2"
}

# not COMMAND... : succeeds when COMMAND fails, e.g. ok "refused" not some_call
not() { ! "$@"; }

# diag TEXT... : TEXT as TAP comment lines
diag() { printf '%s\n' "$*" | sed 's/^/# /' >&"${_SANDBOX_TAP_FD:-1}"; }

# ----------------------------------------------------------------------------
# entering the sandbox: namespace, temp dir, cgroup, teardown trap
# ----------------------------------------------------------------------------

# sandbox_enter "$@" : first call of every test script.
sandbox_enter() {
    if [[ ${SANDBOX_NS_PID:-} != "$$" ]]; then
        # Not yet in our own mount namespace: re-exec this script in one. exec keeps
        # the pid, so $$ (and the marker) stay the same inside.
        [[ $EUID == 0 ]] || sandbox_bail "integration tests must run as root"
        export SANDBOX_NS_PID=$$
        exec unshare --mount --propagation private -- "$BASH" "$0" "$@"
    fi
    set -euo pipefail
    exec {_SANDBOX_TAP_FD}>&1
    # Nothing of an enclosing session or sandbox applies in here (a nested sandbox
    # would otherwise talk to its parent's buses, or etcd would read ETCD_* as flags).
    unset DBUS_SESSION_BUS_ADDRESS DBUS_SYSTEM_BUS_ADDRESS USER_UNIT_DIR \
        XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_CACHE_HOME \
        ETCD_NAME ETCD_ENDPOINT ETCD_DATA_DIR ETCD_PEER_URL ETCD_UNIT ETCD_CACERT ETCD_CERT ETCD_KEY

    T=$(mktemp -d /tmp/etcd-backup-test.XXXXXX)
    # Daemons that drop privileges (dbus-daemon as messagebus, polkitd) and test
    # users must reach sockets below $T.
    chmod 755 "$T"
    export T
    SANDBOX_LOG_DIR=${SANDBOX_LOGS:-$T/logs}
    mkdir -p "$SANDBOX_LOG_DIR"
    export SANDBOX_LOG_DIR

    trap _sandbox_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    _sandbox_cgroup_enter
    _sandbox_private_run

    # Private runtime, config and state dirs: systemd --user, systemctl --user and
    # anything else that follows the XDG spec never touch the real ones. They are on
    # the private /run, not in $T: units with PrivateTmp= must see them as they see
    # /etc and /var on a real host (the user manager's notify socket, its unit and
    # control dirs, units' StateDirectory=).
    export XDG_RUNTIME_DIR=/run/sandbox-xdg
    export XDG_CONFIG_HOME=/run/sandbox-home/config XDG_DATA_HOME=/run/sandbox-home/data
    export XDG_STATE_HOME=/run/sandbox-home/state XDG_CACHE_HOME=/run/sandbox-home/cache
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
    mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$T/home"

    # Unit search path of the user manager (systemd-analyze --user unit-paths), highest
    # priority first: $XDG_CONFIG_HOME/systemd/user.control, $XDG_RUNTIME_DIR/systemd/
    # {user.control,transient,generator.early}, $XDG_CONFIG_HOME/systemd/user,
    # /etc/xdg/systemd/user, /etc/systemd/user, $XDG_RUNTIME_DIR/systemd/user,
    # /run/systemd/user, $XDG_RUNTIME_DIR/systemd/generator, $XDG_DATA_HOME/systemd/user,
    # /usr/local/share/systemd/user, /usr/share/systemd/user, /usr/local/lib/systemd/user,
    # /usr/lib/systemd/user, $XDG_RUNTIME_DIR/systemd/generator.late.
    # Test units go to $XDG_CONFIG_HOME/systemd/user: it outranks everything the
    # distribution ships (so a test unit can replace one), and `systemctl --user
    # enable` writes there. ($XDG_RUNTIME_DIR/systemd/user works too, below /etc.)
    export USER_UNIT_DIR=$XDG_CONFIG_HOME/systemd/user
    mkdir -p "$USER_UNIT_DIR"
}

# Put the test script into a fresh cgroup of its own, in every hierarchy that
# tracks processes. This must happen before anything is started: everything the
# test starts then inherits it, which is what lets teardown find (and only find)
# our processes, and a systemd manager started later adopts this cgroup as its
# root instead of the machine's root cgroup (where it would move every process on
# the machine, PID 1 included, into its init.scope).
_sandbox_cgroup_enter() {
    local -a hier=()
    local h mnt key rel parent cg
    if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
        hier=("/sys/fs/cgroup|")                  # pure cgroup v2
    else
        # hybrid (or legacy) layout: v2 at unified/, systemd's v1 name=systemd tree
        [[ $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] &&
            hier+=("/sys/fs/cgroup/unified|")
        [[ -e /sys/fs/cgroup/systemd/cgroup.procs ]] &&
            hier+=("/sys/fs/cgroup/systemd|name=systemd")
    fi
    (( ${#hier[@]} )) || sandbox_bail "no usable cgroup hierarchy under /sys/fs/cgroup"
    for h in "${hier[@]}"; do
        mnt=${h%%|*} key=${h#*|}
        # our current cgroup in that hierarchy ("0::/x" for v2, "N:name=systemd:/x" for v1)
        if [[ -z $key ]]; then
            rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
        else
            rel=$(sed -n "s/^[0-9]*:$key://p" /proc/self/cgroup)
        fi
        parent=$mnt${rel%/}
        cg=$parent/etcd-backup-test-$$
        mkdir "$cg" || sandbox_bail "cannot create cgroup $cg"
        _SANDBOX_CGROUPS+=("$cg")
        _SANDBOX_CGROUP_PARENTS+=("$parent")
        echo $$ >"$cg/cgroup.procs" || sandbox_bail "cannot join cgroup $cg"
    done
}

# Create sub-cgroup NAME of our test cgroup in every hierarchy.
_sandbox_cgroup_mkdir() {
    local cg
    for cg in "${_SANDBOX_CGROUPS[@]}"; do mkdir -p "$cg/$1"; done
}

# ----------------------------------------------------------------------------
# overlays and installing the project
# ----------------------------------------------------------------------------

_sandbox_mounted_by_us() {
    local m
    for m in "${_SANDBOX_MOUNTS[@]}"; do [[ $m == "$1" ]] && return 0; done
    return 1
}

# Overlay DIR with a throw-away upper layer under $T: writes below DIR exist only
# inside this namespace. Idempotent.
_sandbox_overlay() {
    local dir=$1 name
    _sandbox_mounted_by_us "$dir" && return 0
    name=${dir#/}; name=${name//\//-}
    mkdir -p "$T/overlay/$name-up" "$T/overlay/$name-work"
    if ! mount -t overlay overlay \
            -o "lowerdir=$dir,upperdir=$T/overlay/$name-up,workdir=$T/overlay/$name-work" "$dir" 2>/dev/null; then
        # $T may sit on a file system that cannot be an upper layer (overlayfs
        # itself, in containers): use a tmpfs for the upper layers then.
        if ! _sandbox_mounted_by_us "$T/overlay"; then
            mount -t tmpfs -o mode=755 tmpfs "$T/overlay"
            _SANDBOX_MOUNTS+=("$T/overlay")
        fi
        mkdir -p "$T/overlay/$name-up" "$T/overlay/$name-work"
        mount -t overlay overlay \
            -o "lowerdir=$dir,upperdir=$T/overlay/$name-up,workdir=$T/overlay/$name-work" "$dir" ||
            sandbox_bail "cannot overlay $dir"
    fi
    _SANDBOX_MOUNTS+=("$dir")
}

# sandbox_overlay_system : overlay /usr, /etc and /var (done by sandbox_install too).
sandbox_overlay_system() {
    _sandbox_overlay /usr
    _sandbox_overlay /etc
    _sandbox_overlay /var
}

# sandbox_install BUILD_DIR : `meson install` the project at its real paths, inside
# the namespace only. BUILD_DIR must be configured with --prefix=/usr (then meson
# puts sysconfdir at /etc and localstatedir at /var). In a sandbox nested in one that
# installed BUILD_DIR (SANDBOX_INSTALLED=BUILD_DIR), the overlays only: they lie on top
# of the enclosing sandbox's, which hold the install already (installing once saves
# each nested sandbox its own meson install).
sandbox_install() {
    local build=$1
    [[ -f $build/meson-private/coredata.dat ]] || sandbox_bail "$build is not a meson build dir"
    sandbox_overlay_system
    if [[ -n ${SANDBOX_INSTALLED:-} && $(realpath "$SANDBOX_INSTALLED") == "$(realpath "$build")" ]]; then
        return 0
    fi
    if ! meson install -C "$build" --no-rebuild --quiet >>"$SANDBOX_LOG_DIR/meson-install.log" 2>&1; then
        sed 's/^/meson install: /' "$SANDBOX_LOG_DIR/meson-install.log" >&2
        return 1
    fi
}

# sandbox_add_user NAME [GROUP] : a user (with its own primary group NAME) that
# exists only in the namespace; member of GROUP (created if missing) if given.
sandbox_add_user() {
    local name=$1 group=${2:-}
    _sandbox_overlay /etc
    _sandbox_overlay /var
    if [[ -n $group ]] && ! getent group "$group" >/dev/null; then
        groupadd "$group"
    fi
    useradd --no-create-home --no-log-init --user-group --shell /bin/sh \
        --home-dir /nonexistent ${group:+--groups "$group"} "$name"
}

# ----------------------------------------------------------------------------
# systemd user manager
# ----------------------------------------------------------------------------

# sandbox_start_user_manager : start a systemd user manager (running as root, in
# sub-cgroup user-manager/ of the test cgroup) with a private runtime dir, config
# dirs under $T and a private API bus:
#   - by default a private session dbus-daemon at $XDG_RUNTIME_DIR/bus;
#   - the private system bus instead if `sandbox_start_system_bus --systemd-activation`
#     ran before: the manager then owns org.freedesktop.systemd1 on the system bus and
#     dbus-daemon's SystemdService= activation starts units in this manager.
# Units for tests go to $USER_UNIT_DIR (see sandbox_user_unit).
# A /run of the sandbox's own: a fresh tmpfs, as on a real host, where the system bus
# socket, /run/systemd and the runtime dir go without touching the host's. It must be a
# mount point: systemd's sandboxing of a unit (ProtectKernelTunables=, ProtectProc=,
# anything implying MountAPIVFS=) mounts an empty tmpfs over a /run that is not one,
# and the unit loses the system bus.
_sandbox_private_run() {
    mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
    _SANDBOX_MOUNTS+=(/run)
    mkdir -p -m 1777 /run/lock
}

sandbox_start_user_manager() {
    local api_bus
    if _sandbox_pid_of user-manager >/dev/null; then return 0; fi

    # systemd --user refuses to run unless /run/systemd/system exists (it is how
    # systemd detects that systemd is the init system); /run is the sandbox's own.
    mkdir -p /run/systemd/system
    # The nodes PID 1 makes at boot and units' sandboxing mounts over what it hides
    # (ProtectKernelLogs= over /dev/kmsg, InaccessiblePaths=, ...).
    mkdir -p -m 0755 /run/systemd/inaccessible
    (
        cd /run/systemd/inaccessible
        install -m 0000 /dev/null reg
        mkdir -m 0000 dir
        mknod -m 0000 chr c 0 0
        mknod -m 0000 blk b 0 0
        mkfifo -m 0000 fifo
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
        chmod 0000 sock
    )

    mkdir -p "$USER_UNIT_DIR/service.d"

    # Short stop timeouts so that a hanging unit cannot stall teardown for 90 s.
    cat >"$XDG_CONFIG_HOME/systemd/user.conf" <<EOF
[Manager]
DefaultTimeoutStartSec=30s
DefaultTimeoutStopSec=10s
EOF

    # There is no journald: send the output of every service to its own file.
    cat >"$USER_UNIT_DIR/service.d/50-sandbox-log.conf" <<EOF
[Service]
StandardOutput=append:$SANDBOX_LOG_DIR/%n.log
StandardError=inherit
EOF

    # The manager connects to its API bus only while units named dbus.socket and
    # dbus.service are running (and refuses D-Bus activation requests otherwise).
    # These stand-ins satisfy that check; the bus itself is the dbus-daemon started
    # below (or by sandbox_start_system_bus). They also shadow the dbus.socket of
    # dbus-user-session, which would otherwise take over $XDG_RUNTIME_DIR/bus.
    cat >"$USER_UNIT_DIR/dbus.socket" <<EOF
[Unit]
Description=sandbox stand-in for the D-Bus socket (bus started by sandbox.sh)
[Socket]
ListenStream=%t/sandbox-standin-bus
EOF
    cat >"$USER_UNIT_DIR/dbus.service" <<EOF
[Unit]
Description=sandbox stand-in for the D-Bus daemon (bus started by sandbox.sh)
Requires=dbus.socket
[Service]
ExecStart=/bin/sleep infinity
EOF

    if (( _SANDBOX_SYSTEMD_ACTIVATION )); then
        api_bus=$DBUS_SYSTEM_BUS_ADDRESS
    else
        api_bus=unix:path=$XDG_RUNTIME_DIR/bus
        _sandbox_start_bus session-bus "$api_bus" --session --address="$api_bus"
    fi
    export DBUS_SESSION_BUS_ADDRESS=$api_bus

    # The manager logs to the kernel log only (or /dev/console, which we cannot
    # redirect): bind its log file over /dev/kmsg, in this namespace only.
    : >"$SANDBOX_LOG_DIR/user-manager.log"
    mount --bind "$SANDBOX_LOG_DIR/user-manager.log" /dev/kmsg
    _SANDBOX_MOUNTS+=(/dev/kmsg)

    # The manager gets a sub-cgroup of its own: systemd moves every process of the
    # cgroup it starts in into its init.scope, which would take the test script along.
    _sandbox_cgroup_mkdir user-manager
    (
        for cg in "${_SANDBOX_CGROUPS[@]}"; do echo "$BASHPID" >"$cg/user-manager/cgroup.procs"; done
        HOME=$T/home exec "$SANDBOX_SYSTEMD" --user --log-target=kmsg \
            --log-level="${SANDBOX_SYSTEMD_LOG_LEVEL:-info}"
    ) </dev/null >>"$SANDBOX_LOG_DIR/user-manager.log" 2>&1 {_SANDBOX_TAP_FD}>&- &
    _sandbox_record_pid user-manager $!

    if ! wait_until 20 _sandbox_user_manager_up; then
        sandbox_bail "systemd --user did not come up (see $SANDBOX_LOG_DIR/user-manager.log)"
    fi
    # Start the stand-ins: the manager now connects to $DBUS_SESSION_BUS_ADDRESS.
    systemctl --user start dbus.socket dbus.service
    wait_until 10 _sandbox_name_has_owner "$api_bus" org.freedesktop.systemd1 ||
        sandbox_bail "systemd --user did not appear on its API bus $api_bus"
}

# Ask through the manager's private socket only: when that is not there yet,
# systemctl falls back to $DBUS_SESSION_BUS_ADDRESS, and on a bus started with
# --systemd-activation a call to the not yet present org.freedesktop.systemd1 blocks
# for the whole D-Bus timeout (dbus-daemon waits for systemd to connect).
_sandbox_user_manager_up() {
    local s
    [[ -S $XDG_RUNTIME_DIR/systemd/private ]] || return 1
    s=$(env -u DBUS_SESSION_BUS_ADDRESS timeout 5 systemctl --user is-system-running 2>/dev/null) || true
    [[ $s == running || $s == degraded ]]
}

# NameHasOwner does not activate the name, unlike calling it.
_sandbox_name_has_owner() {
    local out
    out=$(busctl --address="$1" call org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus NameHasOwner s "$2" 2>/dev/null) || return 1
    [[ $out == "b true" ]]
}

# sandbox_user_unit NAME : write unit NAME into $USER_UNIT_DIR from stdin, then
# daemon-reload if the manager runs.
sandbox_user_unit() {
    mkdir -p "$USER_UNIT_DIR"
    cat >"$USER_UNIT_DIR/$1"
    if _sandbox_pid_of user-manager >/dev/null; then systemctl --user daemon-reload; fi
}

# sandbox_link_system_unit UNIT... : make units installed for the system manager
# (/usr/lib/systemd/system, e.g. by sandbox_install) available to the user manager.
sandbox_link_system_unit() {
    local u
    for u in "$@"; do
        [[ -e /usr/lib/systemd/system/$u ]] || { _sandbox_log "no /usr/lib/systemd/system/$u"; return 1; }
        ln -sf "/usr/lib/systemd/system/$u" "$USER_UNIT_DIR/$u"
    done
    if _sandbox_pid_of user-manager >/dev/null; then systemctl --user daemon-reload; fi
}

# ----------------------------------------------------------------------------
# private system bus
# ----------------------------------------------------------------------------

# _sandbox_start_bus NAME ADDRESS DBUS_DAEMON_ARGS... : start a dbus-daemon, record
# its pid as NAME, wait until it answers at ADDRESS. Not with --fork: a forked
# daemon is an orphan of PID 1, and a PID 1 that is not a real init (process_api
# here) leaves it a zombie once killed, which pgrep still lists. In the background
# it stays our child and bash reaps it. --nosyslog: there is no syslog; messages
# go to $SANDBOX_LOG_DIR/NAME.log instead.
_sandbox_start_bus() {
    local name=$1 address=$2; shift 2
    dbus-daemon --nofork --nopidfile --nosyslog "$@" \
        </dev/null >>"$SANDBOX_LOG_DIR/$name.log" 2>&1 {_SANDBOX_TAP_FD}>&- &
    _sandbox_record_pid "$name" $!
    wait_until 10 busctl --address="$address" call org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus GetId ||
        sandbox_bail "$name dbus-daemon does not answer (see $SANDBOX_LOG_DIR/$name.log)"
}

# sandbox_start_system_bus [--systemd-activation] : a private system bus enforcing the
# policies installed under /usr/share/dbus-1/system.d, with activation files from
# /usr/share/dbus-1/system-services. Exports DBUS_SYSTEM_BUS_ADDRESS.
#
# Bus activation on this bus (found out on Debian 12, dbus 1.14, systemd 252):
#  - without --systemd-activation dbus-daemon activates through its setuid launch
#    helper, which fails here ("Launch helper exited with unknown return code 1"),
#    quickly and without starting anything;
#  - with --systemd-activation, dbus-daemon turns an activation of a name whose file
#    has SystemdService=X into an ActivationRequest signal for X sent to
#    org.freedesktop.systemd1 ON THIS SAME BUS, and waits for the name to appear.
#    If no manager owns org.freedesktop.systemd1 there, the caller just waits until
#    its timeout. A systemd user manager can own it: its API bus is
#    $DBUS_SESSION_BUS_ADDRESS as seen at its start, so calling this function with
#    --systemd-activation BEFORE sandbox_start_user_manager makes the manager use
#    this bus as its API bus. systemctl --user keeps working (it talks to the
#    manager's private socket $XDG_RUNTIME_DIR/systemd/private). The manager only
#    connects to the API bus, and only honours ActivationRequest, while units named
#    dbus.socket and dbus.service are active: the stand-in units written by
#    sandbox_start_user_manager take care of that. Then e.g. calling
#    org.freedesktop.PolicyKit1 (SystemdService=polkit.service) starts a user unit
#    polkit.service that runs polkitd, exactly like on a real system.
sandbox_start_system_bus() {
    local activation=0 conf=$T/system-bus.conf pid
    case ${1:-} in
        --systemd-activation) activation=1 ;;
        "") ;;
        *) sandbox_bail "sandbox_start_system_bus: unknown argument $1" ;;
    esac
    if _sandbox_pid_of system-bus >/dev/null; then return 0; fi
    if (( activation )) && _sandbox_pid_of user-manager >/dev/null; then
        sandbox_bail "sandbox_start_system_bus --systemd-activation must come before sandbox_start_user_manager"
    fi

    # The socket sits at its real path, /run/dbus/system_bus_socket, on the sandbox's
    # own /run: sandboxed units (PrivateTmp=yes) cannot see $T, and clients find the
    # bus without DBUS_SYSTEM_BUS_ADDRESS, as on a real system.
    mkdir -p /run/dbus
    local socket=/run/dbus/system_bus_socket

    # A copy of the distribution's system.conf: our own socket, includes that do not
    # depend on where the copy lives, no pid file, and the activation files of
    # /usr/share/dbus-1/system-services (this is where the project installs its own).
    sed -e "s|<listen>.*</listen>|<listen>unix:path=$socket</listen>|" \
        -e "s|<includedir>system.d</includedir>|<includedir>/usr/share/dbus-1/system.d</includedir>|" \
        -e '/<standard_system_servicedirs\/>/d' \
        -e '/<pidfile>/d' \
        -e 's|<servicehelper>|<servicedir>/usr/share/dbus-1/system-services</servicedir>\n  <servicehelper>|' \
        /usr/share/dbus-1/system.conf >"$conf"
    grep -q "<listen>unix:path=$socket</listen>" "$conf" ||
        sandbox_bail "could not rewrite /usr/share/dbus-1/system.conf"

    local -a flags=(--config-file="$conf")
    (( activation )) && flags+=(--systemd-activation)
    _sandbox_start_bus system-bus "unix:path=$socket" "${flags[@]}"
    export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$socket
    _SANDBOX_SYSTEMD_ACTIVATION=$activation
    # units of a manager started earlier should see the bus too
    if _sandbox_pid_of user-manager >/dev/null; then
        systemctl --user set-environment "DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS"
    fi
}

# ----------------------------------------------------------------------------
# polkitd
# ----------------------------------------------------------------------------

# sandbox_polkit_rule NAME JS : add /etc/polkit-1/rules.d/NAME.rules (overlay only).
# Best before sandbox_start_polkitd; a running polkitd notices new rules by itself.
sandbox_polkit_rule() {
    local name=${1%.rules}
    _sandbox_overlay /etc
    mkdir -p /etc/polkit-1/rules.d
    printf '%s\n' "$2" >"/etc/polkit-1/rules.d/$name.rules"
    chmod 644 "/etc/polkit-1/rules.d/$name.rules"
}

# sandbox_start_polkitd : a real polkitd on the private system bus. It reads actions
# from /usr/share/polkit-1/actions (where sandbox_install puts the project's) and
# rules from /etc/polkit-1/rules.d and /usr/share/polkit-1/rules.d. Started as root:
# it switches to the polkitd user itself. There is no logind: rules must not depend
# on subject.active/subject.local.
sandbox_start_polkitd() {
    [[ -n ${DBUS_SYSTEM_BUS_ADDRESS:-} ]] || sandbox_bail "sandbox_start_polkitd needs sandbox_start_system_bus"
    if _sandbox_pid_of polkitd >/dev/null; then return 0; fi
    "$SANDBOX_POLKITD" --no-debug \
        </dev/null >>"$SANDBOX_LOG_DIR/polkitd.log" 2>&1 {_SANDBOX_TAP_FD}>&- &
    _sandbox_record_pid polkitd $!
    wait_until 10 _sandbox_name_has_owner "$DBUS_SYSTEM_BUS_ADDRESS" org.freedesktop.PolicyKit1 ||
        sandbox_bail "polkitd did not appear on the system bus (see $SANDBOX_LOG_DIR/polkitd.log)"
}

# ----------------------------------------------------------------------------
# etcd
# ----------------------------------------------------------------------------

# sandbox_free_port : print a free loopback TCP port (never the same one twice per
# test), outside the kernel's ephemeral range.
sandbox_free_port() {
    local p i
    for i in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        grep -qx "$p" "$T/.ports" 2>/dev/null && continue
        [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] || continue
        echo "$p" >>"$T/.ports"
        echo "$p"
        return 0
    done
    return 1
}

# sandbox_pki : a CA, an etcd server certificate (SAN IP:127.0.0.1, DNS:localhost) and
# a client certificate under $T/pki (EC P-256, valid 2 days). Idempotent.
sandbox_pki() {
    local d=$T/pki
    [[ -f $d/client.crt ]] && return 0
    mkdir -p "$d"
    {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 -subj /CN=etcd-backup-test-ca \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        _sandbox_pki_leaf server /CN=localhost \
            'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth,clientAuth'
        _sandbox_pki_leaf client /CN=etcd-backup-test-client '' 'extendedKeyUsage=clientAuth'
        openssl verify -CAfile "$d/ca.crt" "$d/server.crt" "$d/client.crt"
    } >>"$SANDBOX_LOG_DIR/pki.log" 2>&1 || sandbox_bail "openssl failed (see $SANDBOX_LOG_DIR/pki.log)"
}

_sandbox_pki_leaf() {   # NAME SUBJECT SAN EKU
    local d=$T/pki
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/$1.key" -out "$d/$1.csr" -subj "$2" &&
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "$4" ${3:+"$3"} >"$d/$1.ext" &&
    openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/$1.ext" -out "$d/$1.crt"
}

# sandbox_start_etcd NAME [--tls] [--data-dir DIR] [--user USER] [-- EXTRA_ETCD_ARGS...] : a
# one-member etcd run as user unit NAME.service (Type=notify: etcd tells systemd when it
# serves), data in DIR (default $T/etcd/NAME/data), logs in $SANDBOX_LOG_DIR/NAME.service.log.
# --user: etcd runs as USER (created if missing) with DIR owned by USER:USER, mode 0700, as
# Debian's etcd.service runs it (its server key is made readable to USER's group). Exports ETCD_NAME,
# ETCD_ENDPOINT, ETCD_DATA_DIR, ETCD_PEER_URL, ETCD_UNIT and, with --tls (https client
# URL, client certificates required), ETCD_CACERT, ETCD_CERT, ETCD_KEY.
# A member of a cluster (lib/cluster.sh): --member NAME (default: NAME, the unit's name),
# --ports CLIENT PEER (default: free ones), --cluster NAME=PEER_URL,... and --token TOKEN
# (default: this member alone, token sandbox-NAME-PID). A cluster of several forms only when
# a quorum of members runs (etcd tells systemd it is ready once it has joined): start them
# at the same time.
# (EXTRA_ETCD_ARGS end up in ExecStart=: no spaces in them, please. Commas are fine: printf %q
# escapes them, systemd would not unescape them, so they are unescaped here.)
sandbox_start_etcd() {
    local name=$1 tls=0 data= user= member= cport= pport= cluster= token=; shift
    while (( $# )); do
        case $1 in
            --tls) tls=1; shift ;;
            --data-dir) data=$2; shift 2 ;;
            --user) user=$2; shift 2 ;;
            --member) member=$2; shift 2 ;;
            --ports) cport=$2 pport=$3; shift 3 ;;
            --cluster) cluster=$2; shift 2 ;;
            --token) token=$2; shift 2 ;;
            --) shift; break ;;
            *) sandbox_bail "sandbox_start_etcd: unknown argument $1" ;;
        esac
    done
    _sandbox_pid_of user-manager >/dev/null || sandbox_bail "sandbox_start_etcd needs sandbox_start_user_manager"
    local dir=$T/etcd/$name scheme=http
    mkdir -p "$dir"
    data=${data:-$dir/data}
    if [[ -n $user ]]; then
        getent passwd "$user" >/dev/null || sandbox_add_user "$user"
        mkdir -p "$(dirname "$data")"
        install -d -m 0700 -o "$user" -g "$user" "$data"
        # etcd, as USER, must reach the manager's notify socket (Type=notify): search
        # permission on the way there, as /run/systemd has it on a real host
        # (and write permission on the socket, which a system manager makes 0777).
        chmod a+x "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/systemd"
        chmod a+w "$XDG_RUNTIME_DIR/systemd/notify"
    fi
    if [[ -z $cport ]] && { ! cport=$(sandbox_free_port) || ! pport=$(sandbox_free_port); }; then
        sandbox_bail "no free port"
    fi
    member=${member:-$name}
    # A member of a cluster waits for the others (each in a sandbox of its own, being set up).
    local start_timeout=30
    [[ -n $cluster ]] && start_timeout=90
    local -a args=(
        --name "$member" --data-dir "$data" --logger zap --log-outputs stderr
        --listen-peer-urls "http://127.0.0.1:$pport"
        --initial-advertise-peer-urls "http://127.0.0.1:$pport"
        --initial-cluster "${cluster:-$member=http://127.0.0.1:$pport}"
        --initial-cluster-state new --initial-cluster-token "${token:-sandbox-$name-$$}"
    )
    {
        echo "ETCD_NAME=$member"
        echo "ETCD_DATA_DIR=$data"
        echo "ETCD_PEER_URL=http://127.0.0.1:$pport"
        echo "ETCD_UNIT=$name.service"
    } >"$dir/env"
    if (( tls )); then
        sandbox_pki
        scheme=https
        if [[ -n $user ]]; then
            chgrp "$user" "$T/pki/server.key" && chmod 640 "$T/pki/server.key"
        fi
        args+=(--cert-file "$T/pki/server.crt" --key-file "$T/pki/server.key"
               --trusted-ca-file "$T/pki/ca.crt" --client-cert-auth)
        {
            echo "ETCD_CACERT=$T/pki/ca.crt"
            echo "ETCD_CERT=$T/pki/client.crt"
            echo "ETCD_KEY=$T/pki/client.key"
        } >>"$dir/env"
    fi
    args+=(--listen-client-urls "$scheme://127.0.0.1:$cport"
           --advertise-client-urls "$scheme://127.0.0.1:$cport" "$@")
    echo "ETCD_ENDPOINT=$scheme://127.0.0.1:$cport" >>"$dir/env"

    # etcd reads ETCD_* variables as flags and refuses to start when one shadows a
    # command-line flag (ETCD_NAME, ETCD_DATA_DIR): keep ours away from it.
    sandbox_user_unit "$name.service" <<EOF
[Unit]
Description=sandbox etcd $name
[Service]
Type=notify
UnsetEnvironment=ETCD_NAME ETCD_DATA_DIR ETCD_ENDPOINT ETCD_PEER_URL ETCD_UNIT ETCD_CACERT ETCD_CERT ETCD_KEY
${user:+User=$user
Group=$user
}ExecStart=/usr/bin/etcd $(printf '%q ' "${args[@]}" | sed 's/\\,/,/g')
TimeoutStartSec=$start_timeout
TimeoutStopSec=10
EOF
    systemctl --user start "$name.service" ||
        sandbox_bail "etcd $name did not start (see $SANDBOX_LOG_DIR/$name.service.log)"
    sandbox_etcd_use "$name"
    wait_until 20 etcdctl_s endpoint health ||
        sandbox_bail "etcd $name is not healthy (see $SANDBOX_LOG_DIR/$name.service.log)"
}

# sandbox_etcd_use NAME : point ETCD_* (and so etcdctl_s) at etcd NAME.
sandbox_etcd_use() {
    [[ -f $T/etcd/$1/env ]] || sandbox_bail "no sandbox etcd named $1"
    unset ETCD_CACERT ETCD_CERT ETCD_KEY
    local line
    while IFS= read -r line; do export "${line?}"; done <"$T/etcd/$1/env"
    export ETCDCTL_API=3
}

# etcdctl_s ARGS... : etcdctl (v3) against the current sandbox etcd, with TLS flags.
etcdctl_s() {
    ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINT" \
        ${ETCD_CACERT:+--cacert="$ETCD_CACERT" --cert="$ETCD_CERT" --key="$ETCD_KEY"} "$@"
}

# sandbox_etcd_fill MB : put MB values of 1 MiB of random (incompressible) bytes under
# /sandbox/fill/ into the current etcd. etcdctl put reads the value from stdin, raw.
# Four etcdctl run at a time: 16 MiB take about 0.4 s here.
sandbox_etcd_fill() {
    local mb=$1 i p rc=0
    local -a pids=()
    for ((i = 1; i <= mb; i++)); do
        head -c 1048576 /dev/urandom | etcdctl_s put "/sandbox/fill/$(printf %06d "$i")" >/dev/null &
        pids+=($!)
        if (( ${#pids[@]} == 4 || i == mb )); then
            for p in "${pids[@]}"; do wait "$p" || rc=1; done
            pids=()
        fi
    done
    return $rc
}

# sandbox_etcd_put_keys N : put N small keys /registry/test/key-NNNNNN = value-NNNNNN,
# 100 per transaction.
sandbox_etcd_put_keys() {
    local n=$1 i from
    for ((from = 1; from <= n; from += 100)); do
        {
            echo            # no compares
            for ((i = from; i < from + 100 && i <= n; i++)); do
                printf 'put /registry/test/key-%06d value-%06d\n' "$i" "$i"
            done
            echo            # end of success ops
            echo            # no failure ops
        } | etcdctl_s txn >/dev/null || return 1
    done
}

# ----------------------------------------------------------------------------
# teardown
# ----------------------------------------------------------------------------

_sandbox_exit() {
    local rc=$?
    set +eu
    _SANDBOX_RC=$rc
    trap - INT TERM HUP
    if (( _TAP_ACTIVE )) && (( rc != 0 )) && [[ -z ${_SANDBOX_BAILED:-} ]]; then
        _tap_result 0 "test script ended early with exit status $rc"
    fi
    _sandbox_teardown >&2
    if (( _TAP_ACTIVE )); then
        _tap_print '1..%d\n' "$_TAP_N"
        (( _TAP_FAILED )) && exit 1
    fi
    exit "$rc"
}

# Terminate the given pids (those still alive): TERM, up to 5 s grace, then KILL.
_sandbox_terminate() {
    local p alive i
    (( $# )) || return 0
    kill -TERM "$@" 2>/dev/null
    for i in $(seq 50); do
        alive=()
        for p in "$@"; do _sandbox_pid_alive "$p" && alive+=("$p"); done
        (( ${#alive[@]} )) || return 0
        sleep 0.1
    done
    _sandbox_log "killing ${alive[*]} after 5 s"
    kill -KILL "${alive[@]}" 2>/dev/null
}

# pids in our test cgroup tree, all hierarchies
_sandbox_cgroup_pids() {
    local cg
    for cg in "${_SANDBOX_CGROUPS[@]}"; do
        [[ -d $cg ]] && find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u
}

_sandbox_teardown() {
    local hook e name pid i cg m
    for hook in "${_SANDBOX_EXIT_HOOKS[@]}"; do eval "$hook"; done

    # 1. Let the user manager stop its units in order (etcd gets SIGTERM, ...).
    if pid=$(_sandbox_pid_of user-manager) && _sandbox_pid_alive "$pid"; then
        timeout 5 systemctl --user exit >/dev/null 2>&1
        for i in $(seq 150); do _sandbox_pid_alive "$pid" || break; sleep 0.1; done
    fi

    # 2. Daemons we started, newest first, only if still ours.
    for ((i = ${#_SANDBOX_PIDS[@]} - 1; i >= 0; i--)); do
        e=${_SANDBOX_PIDS[i]} name=${e%%:*} pid=${e#*:}
        if _sandbox_pid_alive "$pid" && _sandbox_pid_is_ours "$pid"; then
            _sandbox_terminate "$pid"
        fi
    done

    # 3. Whatever else is left in our cgroup. Leave it first, so the sweep cannot
    #    hit this shell or the subshells it forks from now on.
    if (( ${#_SANDBOX_CGROUPS[@]} )); then
        for i in "${!_SANDBOX_CGROUPS[@]}"; do
            echo $$ >"${_SANDBOX_CGROUP_PARENTS[i]}/cgroup.procs" 2>/dev/null
        done
        local -a left
        mapfile -t left < <(_sandbox_cgroup_pids)
        if (( ${#left[@]} )); then
            _sandbox_log "stopping leftover processes: $(ps -o pid=,comm= -p "${left[*]}" 2>/dev/null | tr -s ' \n' ' ')"
            _sandbox_terminate "${left[@]}"
        fi
        for i in "${!_SANDBOX_CGROUPS[@]}"; do
            cg=${_SANDBOX_CGROUPS[i]}
            [[ -d $cg ]] || continue
            # exiting tasks may linger for a moment; move whatever remains to the parent
            find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
                echo "$pid" >"${_SANDBOX_CGROUP_PARENTS[i]}/cgroup.procs" 2>/dev/null
            done
            for m in $(seq 20); do
                find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
                [[ -d $cg ]] || break
                sleep 0.1
            done
            [[ -d $cg ]] && _sandbox_log "could not remove cgroup $cg"
        done
    fi

    # 4. Unmount (they would vanish with the namespace anyway, but $T can only be
    #    removed cleanly once its overlay upper layers are unused).
    for ((i = ${#_SANDBOX_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${_SANDBOX_MOUNTS[i]}" 2>/dev/null || umount -l "${_SANDBOX_MOUNTS[i]}" 2>/dev/null
    done

    # 5. The temp dir, or where it is.
    if [[ -n ${T:-} && -d $T ]]; then
        if [[ ${KEEP_SANDBOX:-0} == 1 ]]; then
            _sandbox_log "kept sandbox dir $T (logs in $T/logs)"
        else
            if (( _TAP_FAILED )) || (( ${_SANDBOX_RC:-0} != 0 )); then _sandbox_dump_logs; fi
            rm -rf "$T"
        fi
    fi
}

# On failure, show the end of every daemon log on stderr (the dir is deleted next).
# Nested sandboxes' logs are in sub-directories (SANDBOX_LOGS).
_sandbox_dump_logs() {
    local f
    find "$SANDBOX_LOG_DIR" -type f -size +0 | sort | while IFS= read -r f; do
        printf '==> %s (last 20 lines) <==\n' "${f#"$T"/}"
        tail -n 20 "$f"
    done
}
