#!/usr/bin/env bash
# Benchmark the cohort builder through the real binary: a 1,000,000-row
# cohort is parsed, validated, built and recorded (`seftbot cohort add`), and
# the final pre-upload check run (`submit --dry-run`), each measured with
# /usr/bin/time -v for wall time and peak RSS. Target: <= 2 s, <= 300 MB.
# Also: `replace --strategy diff` against a 1,000,000-identifier ledger.
# Usage: scripts/bench-cohort.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
max_s=2
max_kb=$((300 * 1024))

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
go build -o "$work/seftbot" ./cmd/seftbot

# Valid NHS numbers (Modulus 11) from a 9-digit base; prefixes whose check
# digit would be 10 are skipped. Columns: NHS number, date of birth, postcode.
gen() { # FIRST_BASE COUNT WITH_COLUMNS
	awk -v b="$1" -v n="$2" -v cols="$3" 'BEGIN {
		if (cols) printf "NHS_NO,DATE_OF_BIRTH,POSTCODE\r\n"
		for (made = 0; made < n; b++) {
			s = 0; v = b
			for (k = 8; k >= 0; k--) { s += (v % 10) * (10 - k); v = int(v / 10) }
			c = (11 - s % 11) % 11
			if (c == 10) continue
			if (cols) printf "%09d%d,19800101,AB1 2CD\r\n", b, c
			else printf "%09d%d\n", b, c
			made++
		}
	}'
}

export SEFTBOT_PROJECT_ID=NIC-402963-P0Y5D
fail=0
measure() { # LABEL STATE_DIR ARGS...
	local label=$1 state=$2
	shift 2
	SEFTBOT_STATE_DIR=$state /usr/bin/time -v -o "$work/time" "$work/seftbot" cohort "$@" >/dev/null
	local wall kb secs cpu
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
	cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { print t }' "$work/time")
	kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
	secs=$(awk -F: '{ print ($NF + 0) + ($(NF-1) + 0) * 60 }' <<<"$wall")
	local verdict=ok
	if awk -v s="$secs" -v m="$max_s" 'BEGIN { exit !(s > m) }' || ((kb > max_kb)); then
		verdict=OVER
		fail=1
	fi
	printf '%-44s %6.2f s wall %6.2f s CPU  %4d MB peak RSS  %s\n' "$label" "$secs" "$cpu" $((kb / 1024)) "$verdict"
}

gen 400000000 "$rows" 0 >"$work/plain.txt"
gen 400000000 "$rows" 1 >"$work/cols.csv"
gen 400100000 "$rows" 0 >"$work/next.txt" # overlaps plain.txt but for ~100k

echo "cohort of $rows rows ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)):"
measure "add (NHS numbers only)" "$work/s1" add "$work/plain.txt"
measure "submit --dry-run (final check, outbox)" "$work/s1" submit --dry-run
measure "add (with DATE_OF_BIRTH, POSTCODE)" "$work/s2" add "$work/cols.csv"
measure "submit --dry-run (final check, outbox)" "$work/s2" submit --dry-run
measure "import-held" "$work/s3" import-held "$work/plain.txt"
measure "replace --strategy diff (vs $rows held)" "$work/s3" replace "$work/next.txt"
exit $fail
