#!/usr/bin/env bash
# Installs the Debian packages seftbot's demo and tests need, only when missing:
# Chromium (the browser seftbot drives with --headful) and its headless shell
# (the same Chromium without the browser UI, which headless runs prefer: it
# downloads twice as fast), Xvfb (headful tests), OpenSSH (interop tests and
# the benchmark baseline) and 7-Zip (interop checks only).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have chromium || have chromium-browser || need+=(chromium)
[ -x /usr/lib/chromium/chromium-headless-shell ] || have chrome-headless-shell || need+=(chromium-headless-shell)
have Xvfb || need+=(xvfb)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
have sftp || need+=(openssh-client)
# Both 7-Zip front ends the analysts may use: 7zip (7zz) and p7zip (7z).
have 7zz || need+=(7zip)
have 7z || need+=(p7zip-full)

[ ${#need[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${need[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then SUDO=sudo; else
    echo "install-deps: need root to install: apt-get install ${need[*]}" >&2; exit 1
  fi
else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
