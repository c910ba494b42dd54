#!/bin/sh
# make dist: release artefacts in dist/ (or $OUT):
#   seftbot_VERSION_linux_ARCH and seftsim_VERSION_linux_ARCH   static binaries (CGO_ENABLED=0);
#   seftbot_VERSION-1_ARCH.deb, seftbot-VERSION-1.ARCH.rpm      packages (scripts/package/nfpm.yaml);
#   seftbot_VERSION_linux_ARCH.cdx.json                         CycloneDX SBOM of each seftbot binary;
#   SHA256SUMS                                                  of all of the above.
# ARCHES (default "amd64 arm64") and FORMATS (default "deb rpm") narrow it:
# the package test builds one .deb for the host. Tools come from the Go
# module proxy at pinned versions, so nothing but Go is needed.
set -eu

NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
CYCLONEDX=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0
GO=${GO:-go}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
OUT=${OUT:-$here/dist}
ARCHES=${ARCHES:-amd64 arm64}
FORMATS=${FORMATS:-deb rpm}

VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo devel)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
# The commit's time stamps everything, so a rebuild of a commit is the same.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
# Package versions start with a digit: v1.2.3 -> 1.2.3; a commit -> 0.0.0~gitID.
case $VERSION in
  v[0-9]*) PKG_VERSION=${VERSION#v} ;;
  [0-9]*) PKG_VERSION=$VERSION ;;
  *) PKG_VERSION=0.0.0~git$(printf %s "$VERSION" | tr -c 'A-Za-z0-9.+~\n' '.') ;;
esac
export PKG_VERSION

CLI=github.com/isaric/seftbot/internal/cli
LDFLAGS="-s -w -X $CLI.version=$VERSION -X $CLI.commit=$COMMIT -X $CLI.buildDate=$DATE"

mkdir -p "$OUT"
BUILD=$(mktemp -d "${TMPDIR:-/tmp}/seftbot-dist.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
export BUILD PKGDIR="$here/scripts/package"

# Files every package shares: man pages and completions from the command
# tree, the env template from config.Settings, the units for /usr/bin.
$GO run ./scripts/gendocs "$BUILD/docs"
gzip -9n "$BUILD"/docs/man/*.1
$GO build -trimpath -o "$BUILD/host-seftbot" ./cmd/seftbot
(cd "$BUILD" && HOME="$BUILD" ./host-seftbot init --out "$BUILD/seftbot.env" >/dev/null)
if grep -q /tmp "$BUILD/seftbot.env"; then echo "dist: the env template names /tmp" >&2; exit 1; fi
mkdir -p "$BUILD/systemd"
for u in scripts/systemd/*.service scripts/systemd/*.timer; do
  sed -e 's|/usr/local/bin/seftbot|/usr/bin/seftbot|g' -e 's|^# Install: scripts/install.sh.*|# Installed by the seftbot package; enable with systemctl enable --now seftbot-fetch.timer|' \
    "$u" >"$BUILD/systemd/$(basename "$u")"
done
if grep -q /usr/local "$BUILD"/systemd/*; then echo "dist: a unit still names /usr/local" >&2; exit 1; fi
cp scripts/package/sysusers.conf "$BUILD/sysusers.conf"
cp CHANGELOG.md "$BUILD/CHANGELOG.md"

for ARCH in $ARCHES; do
  export ARCH
  for cmd in seftbot seftsim; do
    CGO_ENABLED=0 GOOS=linux GOARCH=$ARCH $GO build -trimpath -ldflags "$LDFLAGS" \
      -o "$OUT/${cmd}_${VERSION}_linux_$ARCH" "./cmd/$cmd"
  done
  # The SBOM describes the binary as built: its embedded module list (go version -m).
  $GO run "$CYCLONEDX" bin -json -noserial -notimestamp -version "$VERSION" \
    -output "$OUT/seftbot_${VERSION}_linux_$ARCH.cdx.json" "$OUT/seftbot_${VERSION}_linux_$ARCH"
  cp "$OUT/seftbot_${VERSION}_linux_$ARCH" "$BUILD/seftbot"
  # nfpm does not expand every field itself: fill in the template here.
  sed -e "s|\${BUILD}|$BUILD|g" -e "s|\${PKGDIR}|$PKGDIR|g" -e "s|\${ARCH}|$ARCH|g" -e "s|\${PKG_VERSION}|$PKG_VERSION|g" \
    scripts/package/nfpm.yaml >"$BUILD/nfpm.yaml"
  for f in $FORMATS; do
    $GO run "$NFPM" package --config "$BUILD/nfpm.yaml" --packager "$f" --target "$OUT/"
  done
done


cd "$OUT"
rm -f SHA256SUMS
sha256sum -- * >SHA256SUMS.tmp
mv SHA256SUMS.tmp SHA256SUMS
echo "dist: $(ls | wc -l) files in $OUT"
