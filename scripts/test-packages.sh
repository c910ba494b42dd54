#!/usr/bin/env bash
# Prints the packages `make test` runs in one of its two sets:
#   race:  packages with goroutines of their own, run under the race detector;
#   plain: every other package, run without it.
# Each package is in exactly one set, so each runs once. The slowest packages
# (real browsers) come first, so the long runs start while the short ones fill in.
set -euo pipefail
cd "$(dirname "$0")/.."
race='/internal/(job|portal|browser|authoring|staging|archive|relay|sim)(/|$)'
slow='/internal/(portal|job|browser|authoring|cli|cohort)$'
pkgs=$(go list ./...)
case "${1:-}" in
race) sel=$(grep -E "$race" <<<"$pkgs" || true) ;;
plain) sel=$(grep -vE "$race" <<<"$pkgs" || true) ;;
*) echo "usage: $0 race|plain" >&2; exit 2 ;;
esac
{ grep -E "$slow" <<<"$sel" || true; grep -vE "$slow" <<<"$sel" || true; } | grep .
