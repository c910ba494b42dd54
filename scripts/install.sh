#!/bin/sh
# Installs seftbot for a scheduler, as README "Scheduling" describes:
#   sudo scripts/install.sh [--cron] ENV_FILE
# - a system user "seftbot" (no login shell, no home of its own);
# - bin/seftbot as /usr/local/bin/seftbot;
# - ENV_FILE as /etc/seftbot/seftbot.env, 0600, owned by seftbot, with
#   SEFTBOT_STATE_DIR=/var/lib/seftbot added when ENV_FILE has none, so every
#   command run by hand with --env-file reads the state the schedule writes;
# - /var/lib/seftbot (0700), and /var/log/seftbot for cron's logs;
# - the systemd units (fetch nightly, cohort submit in the morning), or with
#   --cron the /etc/cron.d/seftbot file instead.
# It enables nothing: `systemctl enable --now seftbot-fetch.timer` is yours.
# Tests install under ROOT=DIR (paths inside the installed files stay those
# of the real machine, but the env file's state dir is under ROOT) and may
# name another user with SEFTBOT_USER and binary with SEFTBOT_BIN.
set -eu

cron=
if [ "${1:-}" = --cron ]; then cron=1; shift; fi
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: sudo $0 [--cron] ENV_FILE   (ENV_FILE: your settings, e.g. a copy of seftsim's seftbot.env)" >&2
  exit 2
fi
env_in=$1
ROOT=${ROOT:-}
user=${SEFTBOT_USER:-seftbot}
bin=${SEFTBOT_BIN:-bin/seftbot}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$bin" ] || { echo "install: $bin not found; run make build first" >&2; exit 2; }

if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/seftbot --no-create-home --shell /usr/sbin/nologin "$user"
fi
group=$(id -gn "$user")

install -d -m 0755 "$ROOT/usr/local/bin"
install -m 0755 "$bin" "$ROOT/usr/local/bin/seftbot"
install -d -m 0700 -o "$user" -g "$group" "$ROOT/etc/seftbot" "$ROOT/var/lib/seftbot"
install -d -m 0750 -o "$user" -g "$group" "$ROOT/var/log/seftbot"

# The env file: the operator's settings, private, plus the state dir. It is
# written under a temporary name and renamed, so a half-written one never
# replaces a good one.
env_out=$ROOT/etc/seftbot/seftbot.env
tmp=$(mktemp "$ROOT/etc/seftbot/.seftbot.env.XXXXXX")
trap 'rm -f "$tmp"' EXIT
cat "$env_in" >"$tmp"
if ! grep -q '^[[:space:]]*SEFTBOT_STATE_DIR=' "$tmp"; then
  printf '\n# Added by scripts/install.sh: the state the schedule and every command share.\nSEFTBOT_STATE_DIR=%s/var/lib/seftbot\n' "$ROOT" >>"$tmp"
else
  echo "install: keeping the SEFTBOT_STATE_DIR of $env_in; the units' ReadWritePaths= name /var/lib/seftbot" >&2
fi
chown "$user:$group" "$tmp"
chmod 0600 "$tmp"
mv -f "$tmp" "$env_out"
trap - EXIT

if [ -n "$cron" ]; then
  install -d -m 0755 "$ROOT/etc/cron.d"
  install -m 0644 "$here/cron/seftbot" "$ROOT/etc/cron.d/seftbot"
  echo "install: cron entries in /etc/cron.d/seftbot; logs in /var/log/seftbot/"
else
  install -d -m 0755 "$ROOT/etc/systemd/system"
  for u in seftbot-fetch.service seftbot-fetch.timer seftbot-cohort.service seftbot-cohort.timer; do
    install -m 0644 "$here/systemd/$u" "$ROOT/etc/systemd/system/$u"
  done
  echo "install: units in /etc/systemd/system; now: systemctl daemon-reload && systemctl enable --now seftbot-fetch.timer seftbot-cohort.timer"
fi
