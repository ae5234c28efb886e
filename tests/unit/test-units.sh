#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The shipped units pass `systemd-analyze verify` without a single warning, as installed: this
# build dir is `meson install`ed into a scratch root, which also gets the host's own units
# (sysinit.target and friends, which the default dependencies need) and the host's mkdir and
# kill (ExecStartPre=, ExecReload= of etcd-backupd.service), and systemd-analyze looks at that
# root (--root=), so that the absolute ExecStart= paths are checked against what was installed.
#
# etcd-backup@.timer has no OnCalendar= of its own on purpose: its schedule is the drop-in the
# agent writes for each configuration (agent/timers.c: the control directory's
# etcd-backup@NAME.timer.d/50-etcd-backup.conf). A default in the template would make a timer
# started by hand fire on a schedule nobody chose. So the timer is verified as what systemd
# really runs: an instance, with a drop-in of the agent's shape. Without the drop-in it must be
# refused, which shows that the check looks at the drop-in at all.
#
# The RPM spec must parse too (rpmspec -P), when rpmspec is installed (Debian's rpm package).
#
# Env: BUILD_DIR (the meson build dir), SOURCE_DIR (the source tree). Needs no root.
set -u
BUILD_DIR=${BUILD_DIR:?} SOURCE_DIR=${SOURCE_DIR:?}
T=$(mktemp -d /tmp/etcd-backup-test-units.XXXXXX)
trap 'rm -rf "$T"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [[ -s $T/out ]] && sed 's/^/# /' "$T/out"; }

echo "1..5"
R=$T/root
if DESTDIR=$R meson install -C "$BUILD_DIR" --no-rebuild --quiet >"$T/out" 2>&1; then
    ok "meson install into a scratch root"
else
    not_ok "meson install into a scratch root"; exit 1
fi
# Where meson put the units (the systemd pkg-config directory, /lib/systemd/system on Debian 12).
unit=$(cd "$R" && find . -name etcd-backupd.service -path '*/systemd/system/*' | head -n1)
unitdir=$R/${unit%/etcd-backupd.service}
mkdir -p "$R/usr/bin" "$unitdir"
cp -an /lib/systemd/system/. "$unitdir/"
cp /usr/bin/mkdir /usr/bin/kill "$R/usr/bin/"

verify() { # UNIT... : systemd-analyze verify under the root, any output is a failure
    systemd-analyze verify --man=no --root="$R" "$@" >"$T/out" 2>&1 && [[ ! -s $T/out ]]
}
if verify etcd-backupd.service etcd-backup@verify.service; then
    ok "etcd-backupd.service and etcd-backup@.service verify cleanly"
else
    not_ok "etcd-backupd.service and etcd-backup@.service verify cleanly"
fi

dropin=$R/etc/systemd/system.control/etcd-backup@verify.timer.d
if verify etcd-backup@verify.timer; then
    not_ok "a bare etcd-backup@.timer instance is refused (no schedule)"
else
    ok "a bare etcd-backup@.timer instance is refused (no schedule)"
fi
mkdir -p "$dropin"
printf '[Timer]\nOnCalendar=\nOnCalendar=*:0/20\n' >"$dropin/50-etcd-backup.conf"
if verify etcd-backup@verify.timer; then
    ok "etcd-backup@.timer with the agent's drop-in verifies cleanly"
else
    not_ok "etcd-backup@.timer with the agent's drop-in verifies cleanly"
fi

spec=$SOURCE_DIR/rpm/etcd-backup-agent.spec
if ! command -v rpmspec >/dev/null; then
    echo "ok 5 # SKIP rpmspec not installed (Debian package rpm)"
elif rpmspec -P "$spec" >"$T/parsed" 2>"$T/out" && grep -q '^Version: *0' "$T/parsed" \
     && grep -q 'etcd-backupd.service' "$T/parsed" && [[ ! -s $T/out ]]; then
    ok "rpmspec -P parses rpm/etcd-backup-agent.spec without a warning"
else
    not_ok "rpmspec -P parses rpm/etcd-backup-agent.spec without a warning"
fi
exit $failed
