#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# test-package.sh - the Debian package, as a user gets it: built with dpkg-buildpackage from a
# clean copy of the source tree (or PACKAGE_DEB=path/to.deb with its .changes next to it),
# lintian-clean, with the paths of INTERFACE.md in it and never /etc/systemd/system.control;
# then installed, removed and purged with dpkg inside the sandbox's overlays (nothing on the
# machine changes): the units and the bus policy land, the agent is enabled, remove takes the
# timers the agent made and their drop-ins away, purge its configurations and state, and a
# backup file stays through both.
#
# The timers, configurations and state are laid out as the agent writes them (agent/timers.c,
# backup-config.c, restore.c) rather than by running it: the other integration tests cover the
# agent making them; this one covers what the package's scripts do with them.
#
# The build takes a few minutes on a loaded machine (DEB_BUILD_OPTIONS=nocheck: the unit suite
# runs in its own tests); meson's timeout for this test is 1800 s.
# Run as root: bash tests/integration/test-package.sh   (TAP on stdout)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib/sandbox.sh
. "$HERE/lib/sandbox.sh"
sandbox_enter "$@"
plan_begin

# --- build ---------------------------------------------------------------------------------
if [[ -n ${PACKAGE_DEB:-} ]]; then
    deb=$PACKAGE_DEB
    changes=$(ls "$(dirname "$deb")"/etcd-backup-agent_*.changes 2>/dev/null | head -n1)
else
    mkdir -p "$T/pkg/etcd-backup-agent"
    # A clean copy: the tree without build dirs or VCS data, as a release tarball has it.
    tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . |
        tar -C "$T/pkg/etcd-backup-agent" -xf -
    start=$SECONDS
    ok "dpkg-buildpackage -us -uc -b builds the package" \
        bash -c 'cd "$1" && DEB_BUILD_OPTIONS=nocheck nice dpkg-buildpackage -us -uc -b >"$2" 2>&1 || { tail -n 40 "$2"; exit 1; }' \
        _ "$T/pkg/etcd-backup-agent" "$SANDBOX_LOG_DIR/dpkg-buildpackage.log"
    diag "built in $((SECONDS - start)) s"
    deb=$(ls "$T"/pkg/etcd-backup-agent_*.deb 2>/dev/null | head -n1)
    changes=$(ls "$T"/pkg/etcd-backup-agent_*.changes 2>/dev/null | head -n1)
fi
[[ -f $deb ]] || sandbox_bail "no .deb (PACKAGE_DEB=${PACKAGE_DEB:-})"

# --- lintian: no error, no warning (an info tag is explained in debian/README.source) ------
if [[ -f $changes ]]; then
    lintian "$changes" >"$T/lintian.out" 2>&1
    ok "lintian: no error or warning" not grep -E '^[EW]: ' "$T/lintian.out"
    [[ -s $T/lintian.out ]] && diag "$(cat "$T/lintian.out")"
else
    skip "lintian: no error or warning" "no .changes next to $deb"
fi

# --- the file list -------------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' >"$T/files"
expected=(
    /usr/bin/etcd-backupctl
    /usr/libexec/etcd-backup/etcd-backupd
    /usr/libexec/etcd-backup/etcd-backup-restore-helper
    /lib/systemd/system/etcd-backupd.service
    /lib/systemd/system/etcd-backup@.service
    /lib/systemd/system/etcd-backup@.timer
    /usr/share/dbus-1/system.d/org.etcdbackup.Agent1.conf
    /usr/share/dbus-1/system-services/org.etcdbackup.Agent1.service
    /usr/share/dbus-1/interfaces/org.etcdbackup.Agent1.xml
    /usr/share/polkit-1/actions/org.etcdbackup.agent1.policy
    /usr/share/man/man1/etcd-backupctl.1.gz
    /usr/share/man/man5/etcd-backupd.conf.5.gz
    /usr/share/man/man8/etcd-backupd.8.gz
    /usr/share/bash-completion/completions/etcd-backupctl
    /usr/lib/systemd/catalog/etcd-backup.catalog
    /usr/share/doc/etcd-backup-agent/copyright
)
missing=()
for f in "${expected[@]}"; do grep -qxF "$f" "$T/files" || missing+=("$f"); done
is "${missing[*]}" "" "the package has every path of INTERFACE.md"
ok "the package owns nothing of systemd's control directory" not grep -E '^/etc/systemd' "$T/files"

# --- install, remove, purge in the overlays ------------------------------------------------
sandbox_overlay_system
# As in a chroot: no service is started or reloaded by a maintainer script (the machine's own
# dbus included); deb-systemd-invoke and invoke-rc.d both honour policy-rc.d.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

ok "dpkg -i installs the package" dpkg -i "$deb"
ok "the units are installed" test -f /lib/systemd/system/etcd-backupd.service -a -f /lib/systemd/system/etcd-backup@.timer
ok "the bus policy and activation file are installed" \
    test -f /usr/share/dbus-1/system.d/org.etcdbackup.Agent1.conf -a -f /usr/share/dbus-1/system-services/org.etcdbackup.Agent1.service
ok "the polkit actions are installed" test -f /usr/share/polkit-1/actions/org.etcdbackup.agent1.policy
ok "etcd-backupd.service is enabled" test -L /etc/systemd/system/multi-user.target.wants/etcd-backupd.service

# What the agent makes at run time: a configuration, its timer (enabled, drop-in), its state, and a backup.
control=/etc/systemd/system.control
mkdir -p /etc/etcd-backup/configs "$control/etcd-backup@default.timer.d" /etc/systemd/system/timers.target.wants \
    /var/lib/etcd-backup/restores
printf '[Backup]\nSchedule=@every 20m\n' >/etc/etcd-backup/configs/default.conf
printf '[Timer]\nOnCalendar=\nOnCalendar=*:0/20\n' >"$control/etcd-backup@default.timer.d/50-etcd-backup.conf"
printf '[Service]\nCPUWeight=50\n' >"$control/etcd-backup@default.timer.d/60-admin.conf"   # not ours
mkdir -p "$control/other.service.d"
printf '[Service]\nNice=5\n' >"$control/other.service.d/50-other.conf"                  # not ours
ln -s /lib/systemd/system/etcd-backup@.timer /etc/systemd/system/timers.target.wants/etcd-backup@default.timer
echo state >/var/lib/etcd-backup/last-backups
echo journal >/var/lib/etcd-backup/restores/0e0e0e0e-0000-4000-8000-000000000000
backup=/var/lib/etcd-backup/default-20261202T000000Z-0e0e0e0e.db.zst
head -c 4096 /dev/urandom >"$backup"
sha_before=$(sha256sum <"$backup")

# A reinstall runs the scripts of an upgrade (prerm upgrade): the agent's timers stay.
ok "dpkg -i again (an upgrade's scripts) succeeds" dpkg -i "$deb"
ok "upgrade: the timer the agent made stays enabled, with its drop-in" \
    test -L /etc/systemd/system/timers.target.wants/etcd-backup@default.timer -a -f "$control/etcd-backup@default.timer.d/50-etcd-backup.conf"

ok "dpkg -r removes the package" dpkg -r etcd-backup-agent
ok "remove: the unit files are gone" not test -e /lib/systemd/system/etcd-backup@.timer
ok "remove: the timer the agent made is disabled" not test -L /etc/systemd/system/timers.target.wants/etcd-backup@default.timer
ok "remove: its drop-in is gone" not test -e "$control/etcd-backup@default.timer.d/50-etcd-backup.conf"
ok "remove: drop-ins of others are kept" test -f "$control/etcd-backup@default.timer.d/60-admin.conf" -a -f "$control/other.service.d/50-other.conf"
ok "remove: the configurations stay (until purge)" test -f /etc/etcd-backup/configs/default.conf
ok "remove: the state stays (until purge)" test -f /var/lib/etcd-backup/last-backups

dpkg -P etcd-backup-agent >"$T/purge.out" 2>&1
ok "dpkg -P purges the package" not dpkg-query -W -f='${Status}\n' etcd-backup-agent
ok "purge: the configurations the agent made are gone" not test -e /etc/etcd-backup/configs
ok "purge: the state is gone" not test -e /var/lib/etcd-backup/last-backups -o -e /var/lib/etcd-backup/restores
is "$(sha256sum <"$backup" 2>&1)" "$sha_before" "purge: the backup file is kept, unchanged"
ok "purge: says that backups are kept" grep -q 'backups are never removed: /var/lib/etcd-backup is kept' "$T/purge.out"
ok "purge: systemd's control directory stays" test -d "$control/other.service.d"
