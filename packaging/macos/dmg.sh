#!/usr/bin/env bash
# Put a signed MeMo.app on a disk image (.dmg) and sign the disk image.
#
#   MEMO_SIGN_IDENTITY="Developer ID Application: Jane Doe (AB12CD34EF)" \
#   MEMO_TEAM_ID=AB12CD34EF  packaging/macos/dmg.sh dist/MeMo.app dist/MeMo.dmg
#
# Environment (both required, the same as sign.sh):
#   MEMO_SIGN_IDENTITY  the "Developer ID Application: NAME (TEAMID)" identity that signs the image
#   MEMO_TEAM_ID        your 10-character Apple Developer Team ID; the app must be signed by it
#
# What it does, following Apple's "Packaging Mac software for distribution"
# (https://developer.apple.com/documentation/xcode/packaging-mac-software-for-distribution):
#   1. checks that APP is already signed (sign.sh) by MEMO_TEAM_ID: the image only carries it;
#   2. copies it with ditto (which keeps symlinks, permissions and signatures) into a staging
#      folder next to a symlink to /Applications, so the opened image shows "drag MeMo to
#      Applications";
#   3. `hdiutil create -volname MeMo -srcfolder STAGING -format UDZO` (zlib-compressed, read-only:
#      only read-only images can be signed), replacing OUT.dmg if it exists;
#   4. signs the image with the Developer ID identity and a secure timestamp. A signed image is
#      verified by Gatekeeper when mounted and can be notarized and stapled as one file (next:
#      notarize.sh OUT.dmg).
#
# Exit status: 0 written; 2 called wrongly (arguments, input, environment variable); 1 cannot run
# here (not macOS, tool missing) or a step failed.
set -euo pipefail

PROG=packaging/macos/dmg.sh

USAGE="$PROG APP OUT.dmg   (e.g. $PROG dist/MeMo.app dist/MeMo.dmg)"
# shellcheck source=packaging/macos/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

arguments 2 "$@"
APP=${1%/}
OUT=$2

# 1. Environment variables first, so these refusals read the same on any system.
need MEMO_SIGN_IDENTITY MEMO_TEAM_ID

# 2. The inputs.
[ -e "$APP" ] || die 2 "no such app bundle: $APP (build it with make package, sign it with sign.sh)"
case $APP in
*.app) ;;
*) die 2 "$APP is not an .app bundle" ;;
esac
[ -f "$APP/Contents/Info.plist" ] || die 2 "$APP has no Contents/Info.plist: not an app bundle"
case $OUT in
*.dmg) ;;
*) die 2 "the output must be a .dmg file, not $OUT" ;;
esac
out_dir=$(dirname "$OUT")
[ -d "$out_dir" ] || die 2 "the folder for $OUT does not exist: $out_dir"

# 3. The platform.
[ "$(uname -s)" = Darwin ] ||
    die 1 "runs on macOS only (it needs codesign/xcrun/hdiutil); this system is $(uname -s)"
for tool in codesign hdiutil ditto; do
    command -v "$tool" >/dev/null ||
        die 1 "$tool not found: install Apple's command line tools (xcode-select --install)"
done

codesign --verify --deep --strict "$APP" 2>/dev/null ||
    die 1 "$APP is not validly signed: run packaging/macos/sign.sh $APP first"
team=$(codesign --display --verbose=2 "$APP" 2>&1 | sed -n 's/^TeamIdentifier=//p')
[ "$team" = "$MEMO_TEAM_ID" ] ||
    die 1 "$APP is signed for team '${team:-none}', not MEMO_TEAM_ID=$MEMO_TEAM_ID: run sign.sh again"

stage=$(mktemp -d "${TMPDIR:-/tmp}/memo-dmg.XXXXXX")
trap 'rm -rf "$stage"' EXIT
ditto "$APP" "$stage/$(basename "$APP")"
ln -s /Applications "$stage/Applications"

echo "Creating $OUT"
hdiutil create -volname MeMo -srcfolder "$stage" -format UDZO -ov "$OUT"

# The image's signing identifier: the app's bundle id with a .dmg suffix.
bundle_id=$(/usr/libexec/PlistBuddy -c 'Print :CFBundleIdentifier' "$APP/Contents/Info.plist")
echo "Signing $OUT as $MEMO_SIGN_IDENTITY"
codesign --force --timestamp --sign "$MEMO_SIGN_IDENTITY" --identifier "$bundle_id.dmg" "$OUT"
codesign --verify --strict --verbose=2 "$OUT"
echo "Disk image: $OUT (next: packaging/macos/notarize.sh $OUT)"
