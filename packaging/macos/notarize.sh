#!/usr/bin/env bash
# Notarize a signed MeMo.app or MeMo.dmg with Apple, staple the ticket to it, and check it.
#
#   MEMO_NOTARY_PROFILE=memo-notary MEMO_TEAM_ID=AB12CD34EF \
#       packaging/macos/notarize.sh dist/MeMo.dmg
#
# Environment (both required):
#   MEMO_NOTARY_PROFILE  the name of notarytool credentials saved in your keychain, once per Mac:
#                          xcrun notarytool store-credentials memo-notary \
#                              --apple-id you@example.com --team-id AB12CD34EF
#                        (it asks for an app-specific password from account.apple.com; an App Store
#                        Connect API key works too: --key, --key-id, --issuer)
#   MEMO_TEAM_ID         your 10-character Apple Developer Team ID: the file must be signed by it.
#                        The profile carries the team for notarytool; this script only compares.
#
# What it does, following Apple's "Customizing the notarization workflow"
# (https://developer.apple.com/documentation/security/notarizing_macos_software_before_distribution/customizing_the_notarization_workflow):
#   1. checks the file is signed (codesign --verify --strict) by MEMO_TEAM_ID;
#   2. an .app is uploaded as a zip made with `ditto -c -k --keepParent` (a zip keeps the
#      bundle's symlinks and signatures only when ditto makes it); a .dmg is uploaded as is;
#   3. `xcrun notarytool submit FILE --keychain-profile PROFILE --wait`, and on any status but
#      Accepted prints the notary log (`notarytool log ID`) and fails;
#   4. `xcrun stapler staple FILE` attaches the ticket, so Gatekeeper needs no network the first
#      time MeMo opens, and `xcrun stapler validate FILE` checks it;
#   5. asks Gatekeeper: `spctl --assess --type execute` for an app, `--type open --context
#      context:primary-signature` for a disk image; both must now accept.
# Run it on the .dmg that you ship; packaging/README.md's order runs it on the app first as well,
# so that a copy taken out of the image carries its own stapled ticket.
#
# Exit status: 0 notarized and stapled; 2 called wrongly (argument, input, environment
# variable); 1 cannot run here (not macOS, tool missing) or a step failed or Apple refused.
set -euo pipefail

PROG=packaging/macos/notarize.sh

USAGE="$PROG APP_OR_DMG   (e.g. $PROG dist/MeMo.dmg)"
# shellcheck source=packaging/macos/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

arguments 1 "$@"
FILE=${1%/}

# 1. Environment variables first, so these refusals read the same on any system.
need MEMO_NOTARY_PROFILE MEMO_TEAM_ID

# 2. The input.
[ -e "$FILE" ] || die 2 "no such file: $FILE (make it with sign.sh, then dmg.sh)"
case $FILE in
*.app)
    [ -f "$FILE/Contents/Info.plist" ] || die 2 "$FILE has no Contents/Info.plist: not an app bundle"
    kind=app ;;
*.dmg)
    [ -f "$FILE" ] || die 2 "$FILE is not a disk image file"
    kind=dmg ;;
*) die 2 "$FILE is neither an .app bundle nor a .dmg (Apple staples tickets to those, not zips)" ;;
esac

# 3. The platform.
[ "$(uname -s)" = Darwin ] ||
    die 1 "runs on macOS only (it needs codesign/xcrun/hdiutil); this system is $(uname -s)"
for tool in codesign xcrun ditto spctl; do
    command -v "$tool" >/dev/null ||
        die 1 "$tool not found: install Apple's command line tools (xcode-select --install)"
done
xcrun --find notarytool >/dev/null 2>&1 ||
    die 1 "xcrun cannot find notarytool: it comes with Xcode 13 or later (or its command line tools)"

codesign --verify --strict "$FILE" 2>/dev/null ||
    die 1 "$FILE is not validly signed: sign the app with sign.sh (dmg.sh signs the image)"
team=$(codesign --display --verbose=2 "$FILE" 2>&1 | sed -n 's/^TeamIdentifier=//p')
[ "$team" = "$MEMO_TEAM_ID" ] ||
    die 1 "$FILE is signed for team '${team:-none}', not MEMO_TEAM_ID=$MEMO_TEAM_ID"

work=$(mktemp -d "${TMPDIR:-/tmp}/memo-notary.XXXXXX")
trap 'rm -rf "$work"' EXIT
upload=$FILE
if [ "$kind" = app ]; then
    upload="$work/$(basename "$FILE" .app).zip"
    ditto -c -k --keepParent "$FILE" "$upload"
fi

echo "Submitting $FILE to Apple's notary service (this takes minutes)"
xcrun notarytool submit "$upload" --keychain-profile "$MEMO_NOTARY_PROFILE" --wait |
    tee "$work/submit.log" || die 1 "notarytool submit failed (see above)"
id=$(sed -n 's/^ *id: *//p' "$work/submit.log" | tail -1)
if ! grep -Eq '^ *status: *Accepted' "$work/submit.log"; then
    if [ -n "$id" ]; then
        xcrun notarytool log "$id" --keychain-profile "$MEMO_NOTARY_PROFILE" || true
    fi
    die 1 "Apple did not accept $FILE (submission ${id:-unknown}); the log above says why"
fi

echo "Stapling the ticket to $FILE"
xcrun stapler staple "$FILE"
xcrun stapler validate "$FILE"

if [ "$kind" = app ]; then
    spctl --assess --type execute --verbose=2 "$FILE"
else
    spctl --assess --type open --context context:primary-signature --verbose=2 "$FILE"
fi
echo "Notarized and stapled: $FILE"
