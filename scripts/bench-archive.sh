#!/usr/bin/env bash
# Benchmarks seftbot's 7z writer against real 7-Zip on the same synthetic
# CSV files in one run (160 x 1 MiB: time and size ratios for deflate and
# lzma2), then measures the peak RSS of archiving 160 x 20 MiB with deflate.
# Needs 7-Zip (scripts/install-deps.sh) and ~5 GiB free in $TMPDIR.
# Targets (issue 4): deflate >= 5x faster than 7z's Deflate with output at
# most 10% larger; peak RSS <= 64 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
SEFTBOT_BENCH=1 go test ./internal/archive -run '^TestCompare7z$' -v -count=1 -timeout 60m "$@" |
  grep -v '^=== \|^--- \|^PASS$\|^ok '
