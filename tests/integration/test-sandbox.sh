#!/bin/bash
#
# test-sandbox.sh - self-test of lib/sandbox.sh, with real components only: meson,
# a systemd user manager, a private system bus, polkitd and etcd (plain and TLS).
# Run as root: bash tests/integration/test-sandbox.sh   (TAP on stdout)
#
# The last part runs this script again as a nested sandbox ("--child"), which uses
# the bus-activation setup and ends with a failing test, and then checks that it
# left no process, cgroup, mount or temp dir behind.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/sandbox.sh
. "$HERE/lib/sandbox.sh"
sandbox_enter "$@"

POLKIT_ACTION=org.etcdbackup.sandboxtest.check

# polkit_check_as USER ACTION : print polkit's CheckAuthorization reply for a
# process of USER, e.g. "(bba{ss}) true false 0".
#
# The subject must be the caller's own identity (polkitd answers only trusted callers,
# e.g. root, about subjects of other users).
# A system-bus-name subject would have to be busctl's own unique name, which it does
# not know before it connects; so this uses a unix-process subject: pid and start
# time (field 22 of /proc/PID/stat) of the calling bash, which then execs busctl:
# same pid, same start time, so the process that asks is the subject. (pkcheck
# --process $$ would do the same; busctl shows polkit's raw answer.)
polkit_check_as() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    sandbox_as "$1" bash -c '
        read -r stat </proc/$$/stat
        set -- ${stat##*) }          # fields 3.. of /proc/PID/stat: field 22 is $20
        exec busctl --system call org.freedesktop.PolicyKit1 \
            /org/freedesktop/PolicyKit1/Authority org.freedesktop.PolicyKit1.Authority \
            CheckAuthorization "(sa{sv})sa{ss}us" \
            unix-process 3 pid u $$ start-time t "${20}" uid i "$(id -u)" \
            "$0" 0 0 ""' "$2"
}

# processes of the kinds the sandbox starts (zombies excluded: an orphaned daemon
# is reaped by PID 1 a little later)
daemon_snapshot() {
    ps -eo pid=,stat=,comm=,args= |
        awk '$2 !~ /^Z/ && ($3 == "etcd" || $3 == "polkitd" || $3 == "dbus-daemon" ||
                           ($3 == "systemd" && / --user/)) { print $1, $3 }' | sort
}

# --- child mode: a nested sandbox with systemd activation on the system bus -------
child_main() {
    local info=$1
    plan_begin
    # The manager's API bus is the private system bus (see sandbox_start_system_bus).
    sandbox_start_system_bus --systemd-activation
    sandbox_start_user_manager
    # org.freedesktop.PolicyKit1.service (installed by polkitd) says
    # SystemdService=polkit.service: give the user manager such a unit.
    sandbox_user_unit polkit.service <<EOF
[Service]
Type=dbus
BusName=org.freedesktop.PolicyKit1
ExecStart=$SANDBOX_POLKITD --no-debug
EOF
    ok "systemd user manager owns org.freedesktop.systemd1 on the private system bus" \
        _sandbox_name_has_owner "$DBUS_SYSTEM_BUS_ADDRESS" org.freedesktop.systemd1
    ok "systemctl --user still works" systemctl --user is-system-running
    ok "calling org.freedesktop.PolicyKit1 bus-activates it" \
        busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
        org.freedesktop.DBus.Properties Get ss org.freedesktop.PolicyKit1.Authority BackendName
    is "$(systemctl --user is-active polkit.service)" active \
        "the activation started polkit.service in the user manager"
    sandbox_start_etcd child-etcd
    sleep 1000 &    # a stray process nobody records: the cgroup sweep must get it
    {
        echo "CHILD_T=$T"
        echo "CHILD_PID=$$"
        echo "CHILD_PIDS='$(_sandbox_pid_of user-manager) $(_sandbox_pid_of system-bus) $!" \
            "$(systemctl --user show -P MainPID polkit.service)" \
            "$(systemctl --user show -P MainPID child-etcd.service)'"
    } >"$info"
    ok "a deliberately failing test" false
}
if [[ ${1:-} == --child ]]; then
    child_main "$2"
    exit 0
fi

plan_begin

# --- install with meson into overlays -----------------------------------------
# A throw-away meson project that installs a marker under /usr/share and /etc, and
# a polkit action for the polkit checks below.
src=$T/selftest-src
mkdir -p "$src"
cat >"$src/meson.build" <<'EOF'
project('etcd-backup-sandbox-selftest', version: '0')
install_data('marker.txt', install_dir: get_option('datadir') / 'etcd-backup-sandbox-selftest')
install_data('marker.conf', install_dir: get_option('sysconfdir') / 'etcd-backup-sandbox-selftest')
install_data('org.etcdbackup.sandboxtest.policy', install_dir: get_option('datadir') / 'polkit-1' / 'actions')
EOF
echo "installed by test-sandbox.sh $$" >"$src/marker.txt"
echo "installed by test-sandbox.sh $$" >"$src/marker.conf"
cat >"$src/org.etcdbackup.sandboxtest.policy" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<policyconfig>
  <action id="$POLKIT_ACTION">
    <description>sandbox self-test action</description>
    <message>Authentication is required for the sandbox self-test</message>
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin</allow_active>
    </defaults>
  </action>
</policyconfig>
EOF
meson setup --prefix=/usr "$T/selftest-build" "$src" >"$SANDBOX_LOG_DIR/meson-setup.log" 2>&1 ||
    sandbox_bail "meson setup failed"
sandbox_install "$T/selftest-build"
marker=/usr/share/etcd-backup-sandbox-selftest/marker.txt
ok "meson-installed file under /usr is visible in the sandbox" test -f "$marker"
ok "meson-installed file under /etc is visible in the sandbox" \
    test -f /etc/etcd-backup-sandbox-selftest/marker.conf
ok "the installed files are absent on the host" \
    sandbox_on_host sh -c "! test -e $marker && ! test -e /etc/etcd-backup-sandbox-selftest"
ok "no sandbox mount is visible on the host" \
    sandbox_on_host sh -c "! findmnt -rn -o TARGET,FSTYPE | grep -E '^/(usr|etc|var|run/systemd) overlay|^/run/systemd tmpfs'"

# --- test users -------------------------------------------------------------
sandbox_add_user sbx-alice sbx-operators
sandbox_add_user sbx-bob
ok "test users exist in the sandbox" id sbx-alice
ok "test users do not exist on the host" sandbox_on_host sh -c '! grep -q "^sbx-alice:" /etc/passwd'

# --- private system bus --------------------------------------------------------
sandbox_start_system_bus
ok "private system bus answers" \
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId
ok "a non-root caller can use the private system bus" \
    sandbox_as sbx-bob busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId

# --- systemd user manager --------------------------------------------------------
pid1_cgroup=$(cat /proc/1/cgroup)
sandbox_start_user_manager
sandbox_user_unit sandbox-selftest-sleep.service <<'EOF'
[Service]
ExecStart=/bin/sleep infinity
EOF
systemctl --user start sandbox-selftest-sleep.service
is "$(systemctl --user is-active sandbox-selftest-sleep.service)" active \
    "a unit started in the user manager is active"
ok "its process runs in the test's cgroup" \
    grep -q "/etcd-backup-test-$$/user-manager/" \
    "/proc/$(systemctl --user show -P MainPID sandbox-selftest-sleep.service)/cgroup"
is "$(cat /proc/1/cgroup)" "$pid1_cgroup" "PID 1 stays in its cgroup"
ok "the user manager is on its session bus" \
    busctl --user call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
    org.freedesktop.DBus.Properties Get ss org.freedesktop.systemd1.Manager Version
ok "service output lands in \$SANDBOX_LOG_DIR" \
    test -e "$SANDBOX_LOG_DIR/sandbox-selftest-sleep.service.log"

# --- polkitd -------------------------------------------------------------------
sandbox_polkit_rule 50-sandbox-selftest "
polkit.addRule(function(action, subject) {
    if (action.id == '$POLKIT_ACTION' && subject.isInGroup('sbx-operators'))
        return polkit.Result.YES;
});"
sandbox_start_polkitd
ok "polkitd sees the action installed under /usr/share/polkit-1/actions" \
    pkaction --action-id "$POLKIT_ACTION"
reply=$(polkit_check_as sbx-alice "$POLKIT_ACTION" 2>&1) || true
ok "CheckAuthorization: authorized for a user the rule allows ($reply)" \
    test "${reply#'(bba{ss}) true '}" != "$reply"
reply=$(polkit_check_as sbx-bob "$POLKIT_ACTION" 2>&1) || true
ok "CheckAuthorization: not authorized for another user ($reply)" \
    test "${reply#'(bba{ss}) false '}" != "$reply"

# --- etcd, plain -----------------------------------------------------------------
sandbox_start_etcd etcd-plain
ok "plain etcd is healthy" etcdctl_s endpoint health
etcdctl_s put /sandbox/hello world >/dev/null
is "$(etcdctl_s get /sandbox/hello --print-value-only)" world "plain etcd holds a key that was put"
start=${EPOCHREALTIME/./}
ok "sandbox_etcd_fill 16" sandbox_etcd_fill 16
diag "sandbox_etcd_fill 16 took $(( (${EPOCHREALTIME/./} - start) / 1000 )) ms"
is "$(etcdctl_s get --prefix /sandbox/fill/ --keys-only -w json | jq .count)" 16 \
    "sandbox_etcd_fill 16 wrote 16 values"
is "$(etcdctl_s get /sandbox/fill/000016 -w json | jq -r '.kvs[0].value' | base64 -d | wc -c)" 1048576 \
    "each of 1 MiB"
db_size() { etcdctl_s endpoint status -w json | jq ".[0].Status.dbSize"; }
db_grown() { (( $(db_size) >= 16 * 1048576 )); }
# (the backend commits in batches: its file size may lag the puts a little)
ok "etcd database grows past 16 MiB" wait_until 5 db_grown
diag "etcd dbSize: $(db_size) bytes"
sandbox_etcd_put_keys 1000
is "$(etcdctl_s get --prefix /registry/test/ --keys-only --limit 1 -w json | jq .count)" 1000 \
    "sandbox_etcd_put_keys 1000 wrote 1000 keys"
ok "etcd restarts through the user manager" systemctl --user restart etcd-plain.service
hello_is_world() { [[ $(etcdctl_s get /sandbox/hello --print-value-only) == world ]]; }
ok "and answers again with its data" wait_until 10 hello_is_world

# --- etcd, TLS ------------------------------------------------------------------
sandbox_start_etcd etcd-tls --tls
ok "TLS etcd serves https" test "${ETCD_ENDPOINT#https://}" != "$ETCD_ENDPOINT"
ok "TLS etcd is healthy" etcdctl_s endpoint health
etcdctl_s put /sandbox/secure yes >/dev/null
is "$(etcdctl_s get /sandbox/secure --print-value-only)" yes "TLS etcd holds a key that was put"
get_without_client_cert() {
    ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINT" --cacert="$ETCD_CACERT" \
        --dial-timeout=1s --command-timeout=2s get /sandbox/secure
}
ok "TLS etcd refuses a client without a certificate" not get_without_client_cert
sandbox_etcd_use etcd-plain
is "$(etcdctl_s get /sandbox/hello --print-value-only)" world "sandbox_etcd_use switches back to the plain etcd"

# --- a nested sandbox leaves nothing behind -----------------------------------------
before_procs=$(daemon_snapshot)
before_mounts=$(sandbox_on_host findmnt -rn -o TARGET,FSTYPE,SOURCE | sort)
child_rc=0
bash "$0" --child "$T/child.info" >"$T/child.tap" 2>"$SANDBOX_LOG_DIR/child.stderr" || child_rc=$?
diag "$(sed 's/^/child: /' "$T/child.tap")"
ok "child: bus activation tests passed" \
    test "$(grep -c '^ok [1-4] - ' "$T/child.tap")" -eq 4
ok "child: TAP shows the failing test and the plan at the end" \
    sh -c "grep -q '^not ok 5 - a deliberately failing test' '$T/child.tap' && test \"\$(tail -n 1 '$T/child.tap')\" = 1..5"
is "$child_rc" 1 "child: exit status 1 after a failed test"
# shellcheck disable=SC1091
. "$T/child.info"
still_alive=""
for p in $CHILD_PIDS; do _sandbox_pid_alive "$p" && still_alive+=" $p"; done
is "$still_alive" "" "child: none of its daemons nor its stray process is still running"
# (compare only processes in our cgroup tree: other tests may run on this machine)
new_procs=""
while read -r p comm; do
    [[ -n $p ]] && _sandbox_pid_is_ours "$p" && new_procs+=" $p:$comm"
done < <(comm -13 <(echo "$before_procs") <(daemon_snapshot))
is "$new_procs" "" "child: no etcd, polkitd, dbus-daemon or systemd --user left over"
is "$(find /sys/fs/cgroup -name "etcd-backup-test-$CHILD_PID" 2>/dev/null)" "" "child: its cgroups are gone"
ok "child: its temp dir is gone" test ! -e "$CHILD_T"
is "$(sandbox_on_host findmnt -rn -o TARGET,FSTYPE,SOURCE | sort)" "$before_mounts" \
    "child: host mounts unchanged"
