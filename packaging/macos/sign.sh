#!/usr/bin/env bash
# Sign MeMo.app for distribution with a Developer ID certificate and the hardened runtime.
#
#   MEMO_SIGN_IDENTITY="Developer ID Application: Jane Doe (AB12CD34EF)" \
#   MEMO_TEAM_ID=AB12CD34EF  packaging/macos/sign.sh dist/MeMo.app
#
# Environment (both required):
#   MEMO_SIGN_IDENTITY  the "Developer ID Application: NAME (TEAMID)" identity in your keychain
#                       (or its 40-hex SHA-1); list them with: security find-identity -v -p codesigning
#   MEMO_TEAM_ID        your 10-character Apple Developer Team ID; the identity must belong to it
#
# What it does, following Apple's "Creating distribution-signed code for macOS"
# (https://developer.apple.com/documentation/xcode/creating-distribution-signed-code-for-the-mac)
# and "--deep Considered Harmful" (https://developer.apple.com/forums/thread/129980):
#   1. signs every nested Mach-O file (dylibs, Python extension .so files, framework binaries)
#      from the inside out, deepest path first, with a secure timestamp. Libraries get no
#      entitlements: Apple says entitlements belong on executables only ("Don't apply
#      entitlements to library code"); a nested *executable* gets the hardened runtime too;
#   2. signs each nested .framework bundle, deepest first;
#   3. signs the app bundle itself, which signs its main executable, with --options runtime
#      (the hardened runtime that notarization requires) and packaging/macos/entitlements.plist;
#   4. verifies with `codesign --verify --deep --strict` (--deep is right for verifying, not for
#      signing), checks the Team ID, and asks Gatekeeper (`spctl --assess`), which rejects the
#      app as "Unnotarized Developer ID" until notarize.sh has run: that result is shown, not fatal.
# codesign --deep is not used for signing: it applies one set of options (entitlements included)
# to every nested item and misses code it does not find in the expected places.
#
# The entitlements, and why (the file itself may hold no comments: Apple requires the standard
# XML format "with LF line endings, no comments, and no byte-order mark"):
#   com.apple.security.cs.allow-unsigned-executable-memory: Python's ctypes (imported at start by
#     MeMo's dependencies) allocates libffi closures, which with some Python builds need
#     writable+executable memory; the hardened runtime refuses that without this entitlement, the
#     failure PyInstaller apps hit (https://github.com/pyinstaller/pyinstaller/issues/4629).
#   Not granted: allow-jit (CPython runs no JIT by default; MLX's Metal kernels are compiled for the
#     GPU by Metal's own compiler service, not into executable memory of this process),
#     disable-library-validation (every library in the bundle is signed here by the same team, so
#     library validation passes), and any network entitlement (network client/server entitlements
#     only matter for sandboxed apps; MeMo is not sandboxed, and its downloads need none).
#
# Exit status: 0 signed; 2 called wrongly (argument, input, environment variable); 1 cannot run
# here (not macOS, tool missing) or a signing step failed.
set -euo pipefail

PROG=packaging/macos/sign.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ENTITLEMENTS="$HERE/entitlements.plist"

USAGE="$PROG APP   (e.g. $PROG dist/MeMo.app)"
# shellcheck source=packaging/macos/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

arguments 1 "$@"
APP=${1%/}

# 1. Environment variables first, so these refusals read the same on any system.
need MEMO_SIGN_IDENTITY MEMO_TEAM_ID
case $MEMO_SIGN_IDENTITY in
-)
    die 2 "MEMO_SIGN_IDENTITY='-' is ad-hoc signing, which Apple's notary service refuses;" \
        "use your \"Developer ID Application: NAME ($MEMO_TEAM_ID)\" identity" ;;
"Developer ID Application: "*"($MEMO_TEAM_ID)") ;;
"Developer ID Application: "*)
    die 2 "MEMO_SIGN_IDENTITY='$MEMO_SIGN_IDENTITY' does not belong to MEMO_TEAM_ID=$MEMO_TEAM_ID" \
        "(the identity ends with its team in parentheses)" ;;
*)
    [[ $MEMO_SIGN_IDENTITY =~ ^[0-9A-Fa-f]{40}$ ]] ||
        die 2 "MEMO_SIGN_IDENTITY='$MEMO_SIGN_IDENTITY' is not a Developer ID Application identity;" \
            "only those can be notarized (\"Developer ID Application: NAME ($MEMO_TEAM_ID)\")" ;;
esac

# 2. The input.
[ -e "$APP" ] || die 2 "no such app bundle: $APP (build it first: make package, on a Mac)"
case $APP in
*.app) ;;
*) die 2 "$APP is not an .app bundle" ;;
esac
[ -f "$APP/Contents/Info.plist" ] || die 2 "$APP has no Contents/Info.plist: not an app bundle"
[ -f "$ENTITLEMENTS" ] || die 1 "missing $ENTITLEMENTS (a broken checkout?)"

# 3. The platform.
[ "$(uname -s)" = Darwin ] ||
    die 1 "runs on macOS only (it needs codesign/xcrun/hdiutil); this system is $(uname -s)"
for tool in codesign spctl xattr file /usr/libexec/PlistBuddy; do
    command -v "$tool" >/dev/null ||
        die 1 "$tool not found: install Apple's command line tools (xcode-select --install)"
done

sign() { codesign --force --timestamp --sign "$MEMO_SIGN_IDENTITY" "$@"; }
deepest_first() { awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2-; }

# Finder metadata and other extended attributes break signatures ("resource fork, Finder
# information, or similar detritus not allowed").
xattr -cr "$APP"

main_exe="$APP/Contents/MacOS/$(/usr/libexec/PlistBuddy -c 'Print :CFBundleExecutable' \
    "$APP/Contents/Info.plist")"
[ -f "$main_exe" ] || die 2 "$APP names $main_exe as its executable, which is missing"

echo "Signing nested code in $APP as $MEMO_SIGN_IDENTITY"
count=0
# Candidates: .dylib, .so and extension-less files (framework binaries such as QtCore, Python);
# `file` tells which are Mach-O. -type f skips the symlinks PyInstaller cross-links with.
while IFS= read -r path; do
    [ "$path" = "$main_exe" ] && continue
    kind=$(file -b "$path")
    case $kind in
    Mach-O*executable*) sign --options runtime --entitlements "$ENTITLEMENTS" "$path" ;;
    Mach-O*) sign "$path" ;;
    *) continue ;;
    esac
    count=$((count + 1))
done < <(find "$APP/Contents" -type f \( -name '*.dylib' -o -name '*.so' -o ! -name '*.*' \) |
    deepest_first)
echo "  $count Mach-O files signed"

while IFS= read -r framework; do
    sign "$framework"
    echo "  signed $framework"
done < <(find "$APP/Contents" -type d -name '*.framework' | deepest_first)

echo "Signing the bundle (hardened runtime, entitlements: $ENTITLEMENTS)"
sign --options runtime --entitlements "$ENTITLEMENTS" "$APP"

echo "Verifying"
codesign --verify --deep --strict --verbose=2 "$APP"
team=$(codesign --display --verbose=2 "$APP" 2>&1 | sed -n 's/^TeamIdentifier=//p')
[ "$team" = "$MEMO_TEAM_ID" ] ||
    die 1 "$APP is signed for team '$team', not MEMO_TEAM_ID=$MEMO_TEAM_ID"
codesign --display --entitlements - "$APP"
if spctl --assess --type execute --verbose=2 "$APP"; then
    echo "Gatekeeper accepts $APP"
else
    echo "note: Gatekeeper rejects $APP until it is notarized (\"Unnotarized Developer ID\" above" \
        "is expected); next: packaging/macos/dmg.sh $APP dist/MeMo.dmg"
fi
echo "Signed: $APP"
