#!/usr/bin/env bash
# The agents' softphone runs Twilio's Voice JavaScript SDK, served by the hotline itself from
# static/vendor/twilio-voice-sdk/ (no CDN: the pages' Content-Security-Policy allows scripts from
# this origin only).  The built browser bundle is committed, so a fresh clone runs without this
# script; run it to upgrade (change VERSION and INTEGRITY below, from `npm view
# @twilio/voice-sdk@X.Y.Z dist.integrity`) or to check that the committed file is the
# registry's, byte for byte.
#
#   bash scripts/vendor_twilio_voice.sh          # fetch the pinned version, copy it in
#   bash scripts/vendor_twilio_voice.sh --check  # fetch it and compare with what is committed
#
# `npm pack` fetches the package's tarball from the npm registry and checks it against the
# registry's integrity; nothing is installed and none of the package's scripts run.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=@twilio/voice-sdk
VERSION=2.18.5
INTEGRITY=sha512-2/tw1IDAIn7j6yFDOln8p93v3aHIxNIN93JwL98cHIlbkSNeU/Jt9zGM/0TvDpNjo+k88lvAew4jgOjKlc9/KA==
TARGET=static/vendor/twilio-voice-sdk

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tarball="$work/twilio-voice-sdk-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "the tarball of $PACKAGE@$VERSION is not the pinned one: $got" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/twilio.min.js package/LICENSE.md package/package.json
node -e 'const p = require(process.argv[1]); if (p.version !== process.argv[2]) process.exit(1)' \
  "$work/package/package.json" "$VERSION"

if [ "${1:-}" = "--check" ]; then
  cmp "$work/package/dist/twilio.min.js" "$TARGET/twilio.min.js"
  cmp "$work/package/LICENSE.md" "$TARGET/LICENSE.md"
  (cd "$TARGET" && sha256sum --check --quiet SHA256SUMS)
  echo "$TARGET holds $PACKAGE $VERSION as published"
  exit 0
fi

mkdir -p "$TARGET"
cp "$work/package/dist/twilio.min.js" "$work/package/LICENSE.md" "$TARGET/"
(cd "$TARGET" && sha256sum twilio.min.js LICENSE.md > SHA256SUMS)
cat > "$TARGET/VERSION" <<EOF
$PACKAGE $VERSION
npm tarball integrity: $INTEGRITY
files: dist/twilio.min.js and LICENSE.md of the tarball (sha256 in SHA256SUMS)
copied by scripts/vendor_twilio_voice.sh
EOF
echo "$TARGET: $PACKAGE $VERSION"
cat "$TARGET/SHA256SUMS"
