# shellcheck shell=bash
# Shared by sign.sh, dmg.sh and notarize.sh (sourced, not run): their refusals, in one wording.
# A script sets PROG and USAGE, sources this, then calls `arguments N "$@"` and `need VAR...`.
# Plain bash 3.2, the /bin/bash macOS ships.

die() {
    local code=$1
    shift
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit "$code"
}

# -h/--help prints the script's header comment; any other count of arguments than N is usage.
arguments() {
    local want=$1
    shift
    if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
        echo "usage: $USAGE" >&2
        sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
        exit 0
    fi
    if [ $# -ne "$want" ]; then
        echo "usage: $USAGE" >&2
        exit 2
    fi
}

# What each variable must hold and how to get it, said when it is missing.
_what() {
    case $1 in
    MEMO_SIGN_IDENTITY)
        echo "it must hold your Developer ID signing identity," \
            "e.g. \"Developer ID Application: Jane Doe (AB12CD34EF)\"; list yours with:" \
            "security find-identity -v -p codesigning" ;;
    MEMO_TEAM_ID)
        echo "it must hold your 10-character Apple Developer Team ID," \
            "e.g. AB12CD34EF (developer.apple.com/account, Membership details)" ;;
    MEMO_NOTARY_PROFILE)
        echo "it must name notarytool credentials saved in" \
            "your keychain; save them once with: xcrun notarytool store-credentials memo-notary" \
            "--apple-id YOU@EXAMPLE.COM --team-id YOURTEAMID (then MEMO_NOTARY_PROFILE=memo-notary)" ;;
    esac
}

# Every variable named must be set (all missing ones are named at once); a Team ID must look
# like one. Checked before the platform, so these refusals read the same on any system.
need() {
    local missing=0 var
    for var in "$@"; do
        if [ -z "${!var:-}" ]; then
            echo "$PROG: $var is not set: $(_what "$var")" >&2
            missing=1
        fi
    done
    [ "$missing" = 0 ] || exit 2
    [[ $MEMO_TEAM_ID =~ ^[A-Z0-9]{10}$ ]] ||
        die 2 "MEMO_TEAM_ID='$MEMO_TEAM_ID' is not a Team ID (10 capital letters and digits, e.g. AB12CD34EF)"
}
