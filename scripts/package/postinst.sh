#!/bin/sh
# seftbot's postinst (deb and rpm): make the seftbot system user, give it
# /var/lib/seftbot and the env file, and tell systemd about the units. It
# enables nothing: `systemctl enable --now seftbot-fetch.timer` is the
# operator's, once the env file is filled in. DPKG_ROOT is set when dpkg
# installs into another root (dpkg --root --force-script-chrootless).
set -e
root="${DPKG_ROOT:-}"

case "${1:-configure}" in
  configure|1|2) ;;
  *) exit 0 ;;
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers ${root:+--root="$root"} seftbot.conf
elif ! grep -q '^seftbot:' "$root/etc/passwd" 2>/dev/null; then
  useradd ${root:+--prefix "$root"} --system --user-group --home-dir /var/lib/seftbot \
    --no-create-home --shell /usr/sbin/nologin --comment "seftbot SEFT fetcher" seftbot
fi

# Numeric ids from the target root's own files: chown by name would ask
# the host's user database.
uid=$(awk -F: '$1 == "seftbot" { print $3 }' "$root/etc/passwd")
gid=$(awk -F: '$1 == "seftbot" { print $3 }' "$root/etc/group")
if [ -z "$uid" ] || [ -z "$gid" ]; then
  echo "seftbot: the seftbot user could not be made" >&2
  exit 1
fi
chown "$uid:$gid" "$root/var/lib/seftbot"
chmod 0700 "$root/var/lib/seftbot"
chown "0:$gid" "$root/etc/seftbot"
chmod 0750 "$root/etc/seftbot"
if [ -f "$root/etc/seftbot/seftbot.env" ]; then
  chown "$uid:$gid" "$root/etc/seftbot/seftbot.env"
  chmod 0600 "$root/etc/seftbot/seftbot.env"
fi

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
echo "seftbot: fill in /etc/seftbot/seftbot.env, check it with" \
  "sudo -u seftbot seftbot --env-file /etc/seftbot/seftbot.env doctor," \
  "then: systemctl enable --now seftbot-fetch.timer" >&2
