#!/usr/bin/env bash
# make demo: start seftsim in a temporary directory, run the real nightly job
# (seftbot fetch) against it, then show that the encrypted archive reached the
# SFTP drop, that the [secure] passphrase mail is in the sink, and that Debian's
# 7-Zip, given that passphrase, restores files matching published.sha256.
# The passphrase is never printed: it goes from the mail to 7-Zip's stdin.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
FILES=${DEMO_FILES:-160}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/seftbot-demo.XXXXXX")
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
  if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "starting seftsim with $FILES files in $DIR"
"$BIN/seftsim" --dir "$DIR" --files "$FILES" >"$DIR/seftsim.out" 2>"$DIR/seftsim.log" &
SIM_PID=$!
for _ in $(seq 1 300); do
  grep -q '^seftsim ready: ' "$DIR/seftsim.out" 2>/dev/null && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$DIR/seftsim.log"; echo "demo: seftsim died" >&2; exit 1; }
  sleep 0.1
done
grep '^seftsim ready: ' "$DIR/seftsim.out"
ENV="$DIR/seftbot.env"

say "night 1: seftbot fetch"
"$BIN/seftbot" --env-file "$ENV" --log-format text fetch

say "the SFTP drop received"
ls -l "$DIR/sftp"
ARCHIVE=$(find "$DIR/sftp" -maxdepth 1 -name 'isaric-*.7z' | head -1)
[ -n "$ARCHIVE" ] || { echo "demo: no isaric-*.7z on the drop" >&2; exit 1; }

say "the mail sink holds"
MAIL=""
for m in "$DIR"/mail/*.eml; do
  subj=$(grep -m1 -i '^Subject:' "$m" || true)
  echo "$(basename "$m"): $subj"
  case "$(echo "$subj" | tr 'A-Z' 'a-z')" in *"[secure]"*) MAIL=$m ;; esac
done
[ -n "$MAIL" ] || { echo "demo: no [secure] passphrase mail" >&2; exit 1; }

say "without the passphrase, 7-Zip cannot even list the archive"
if 7zz l "$ARCHIVE" </dev/null >/dev/null 2>&1; then echo "demo: listed without a passphrase!" >&2; exit 1; fi
echo "refused, as it should be"

say "Debian's 7-Zip restores the files with the mailed passphrase (fed on stdin)"
mkdir -m 700 "$DIR/restored"
sed -n 's/^Passphrase: //p' "$MAIL" | tr -d '\r' | head -1 | 7zz x -o"$DIR/restored" "$ARCHIVE" >/dev/null
(cd "$DIR/restored" && sha256sum --quiet -c "$DIR/published.sha256")
echo "all $(wc -l <"$DIR/published.sha256") files match published.sha256"

say "night 2: nothing new on the portal"
set +e
"$BIN/seftbot" --env-file "$ENV" --log-format text fetch
rc=$?
set -e
[ "$rc" -eq 3 ] || { echo "demo: expected exit 3 (nothing new), got $rc" >&2; exit 1; }
echo "exit 3: nothing new, no archive sent"

say "status"
"$BIN/seftbot" --env-file "$ENV" status
say "demo complete"
