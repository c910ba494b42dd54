#!/usr/bin/env bash
# Installs the Debian packages seftbot's demo and tests need, only when missing:
# Chromium (the browser seftbot drives with --headful) and its headless shell
# (the same Chromium without the browser UI, which headless runs prefer: it
# downloads twice as fast), Xvfb (headful tests), OpenSSH (interop tests and
# the benchmark baseline), 7-Zip (interop checks only) and systemd (its
# systemd-analyze verifies our units; installing it in a container starts nothing)
# dovecot (a real IMAP server for the inbox interop test), jq (the README's
# log filter, run by the tests) and man-db (the man page test renders each page).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || have chromium-browser || need+=(chromium)
# Wanted, not needed: without it headless runs use the full chromium, slower.
want=()
[ -x /usr/lib/chromium/chromium-headless-shell ] || have chrome-headless-shell || want+=(chromium-headless-shell)
have Xvfb || need+=(xvfb)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have sftp || need+=(openssh-client)
# systemd-analyze and systemd's own units, to verify ours (scripts/install_test.go).
{ have systemd-analyze && [ -f /usr/lib/systemd/system/timers.target ]; } || need+=(systemd)
# Both 7-Zip front ends the analysts may use: 7zip (7zz) and p7zip (7z).
have 7zz || need+=(7zip)
have 7z || need+=(p7zip-full)
# A real IMAP server for the inbox interop test (started by the test itself;
# the package's own service is not needed).
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
# jq: the tests read seftbot's JSON log lines with the README's own jq line.
have jq || need+=(jq)
# man renders the generated man pages in their test (internal/cli/docs_test.go).
have man || need+=(man-db)

all=("${need[@]}" "${want[@]}")
[ ${#all[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${all[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then SUDO=sudo; else
    echo "install-deps: need root to install: apt-get install ${all[*]}" >&2
    [ ${#need[@]} -eq 0 ] && exit 0 || exit 1
  fi
else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ${#want[@]} -gt 0 ] && ! $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null; then
  echo "install-deps: could not install ${want[*]}; headless runs will use the full chromium (slower)" >&2
fi
