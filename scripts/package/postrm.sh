#!/bin/sh
# seftbot's postrm: tell systemd the units are gone. The seftbot user, its
# state (manifest, ledger, run records) and /etc/seftbot are kept: they
# record what was delivered, and a reinstall must not fetch it again.
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
