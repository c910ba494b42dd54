#!/usr/bin/env bash
# make demo: start seftsim in a temporary directory, run the real nightly job
# (seftbot fetch) against it, then show that the encrypted archive reached the
# SFTP drop, that the [secure] passphrase mail is in the sink, and that Debian's
# 7-Zip, given that passphrase, restores files matching published.sha256.
# The passphrase is never printed: it goes from the mail to 7-Zip's stdin.
# seftsim plays NHSmail after Basic authentication is retired (--smtp-auth
# xoauth2, DEMO_SMTP_AUTH=password for the old way): every mail goes over SASL
# XOAUTH2 with tokens that live DEMO_TOKEN_TTL (2s), so the token seftbot gets
# to read the mailbox at the start of the run has expired by the time the
# passphrase mail goes, and the demo checks that it was renewed mid-run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
FILES=${DEMO_FILES:-160}
AUTH=${DEMO_SMTP_AUTH:-xoauth2}
TTL=${DEMO_TOKEN_TTL:-2s}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/seftbot-demo.XXXXXX")
SIM_PID=
cleanup() {
  [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null || true
  if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }

say "starting seftsim with $FILES files in $DIR (SMTP and IMAP auth: $AUTH, token lifetime $TTL)"
"$BIN/seftsim" --dir "$DIR" --files "$FILES" --smtp-auth "$AUTH" --oauth-token-ttl "$TTL" >"$DIR/seftsim.out" 2>"$DIR/seftsim.log" &
SIM_PID=$!
for _ in $(seq 1 300); do
  grep -q '^seftsim ready: ' "$DIR/seftsim.out" 2>/dev/null && break
  kill -0 "$SIM_PID" 2>/dev/null || { cat "$DIR/seftsim.log"; echo "demo: seftsim died" >&2; exit 1; }
  sleep 0.1
done
grep '^seftsim ready: ' "$DIR/seftsim.out"
ENV="$DIR/seftbot.env"

say "night 1: seftbot fetch"
"$BIN/seftbot" --env-file "$ENV" --log-format text fetch 2> >(tee "$DIR/night1.log" >&2)
if [ "$AUTH" = xoauth2 ]; then
  say "OAuth 2.0: tokens obtained during night 1 (never the tokens themselves)"
  grep 'oauth access token obtained' "$DIR/night1.log" || true
  grep -q 'oauth access token obtained.*replaces_expired=true' "$DIR/night1.log" ||
    { echo "demo: the expired token was not renewed mid-run (a faster machine? try DEMO_TOKEN_TTL=1s)" >&2; exit 1; }
  echo "the token expired mid-run and was renewed; the sink takes only XOAUTH2, so every mail below came that way"
fi

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
