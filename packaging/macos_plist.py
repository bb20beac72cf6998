"""The Info.plist of MeMo.app, for the spec's ``BUNDLE(info_plist=info_plist(version))``.

PyInstaller writes a minimal Info.plist itself (CFBundleExecutable, CFBundleIconFile,
CFBundlePackageType APPL, ...) and merges this dict over it with plistlib
(https://pyinstaller.org/en/stable/spec-files.html#spec-file-options-for-a-macos-bundle).
Key reference: Apple's "Information Property List" documentation
(https://developer.apple.com/documentation/bundleresources/information-property-list).

This file is loaded by path (the spec and the tests use importlib), because ``packaging/``
is not a Python package and must not shadow the PyPI ``packaging`` module.
"""

from __future__ import annotations

# Reverse-DNS bundle id. It is the identity macOS keys the app's privacy grants (the folder
# permissions below), preferences and notarization ticket to, and the signature records it
# as the code's identifier: it must match the App ID registered for the Developer ID team
# that signs the release (MEMO_TEAM_ID), and must never change once released, or users lose
# their grants and macOS treats the new build as another app.
BUNDLE_ID = "org.memo-mlx.MeMo"

# The oldest macOS that MeMo runs on. Source: the wheels on PyPI. mlx 0.32.4 and its Metal
# backend mlx-metal 0.32.4 publish macOS arm64 wheels tagged macosx_14_0, macosx_15_0 and
# macosx_26_0 only (the last mlx with a macosx_13_0 wheel was 0.29.3), so pip cannot install
# MLX on macOS 13 or older; PySide6 6.12 is tagged macosx_14_0 too. Checked with
# `pip install --dry-run --only-binary=:all: --platform macosx_13_0_arm64 mlx==0.32.4`
# (no match) against `--platform macosx_14_0_arm64` (mlx-0.32.4-...-macosx_14_0_arm64.whl).
# Raise this together with the pins in pyproject.toml.
MIN_MACOS = "14.0"

COPYRIGHT = "Copyright © 2026 the MeMo authors. Apache License 2.0."

# Shown by macOS the first time MeMo reads a protected folder (TCC). One reason for all.
_WHY = (
    "MeMo reads the files in the folders you choose so that it can learn from them. "
    "Everything stays on this Mac: nothing is uploaded."
)


def info_plist(version: str) -> dict:
    """Info.plist keys for MeMo.app at ``version`` (e.g. "0.1.0")."""
    return {
        "CFBundleIdentifier": BUNDLE_ID,
        "CFBundleName": "MeMo",
        "CFBundleDisplayName": "MeMo",
        "CFBundleShortVersionString": version,  # the version people see
        "CFBundleVersion": version,  # the build number; the same string for us
        "LSMinimumSystemVersion": MIN_MACOS,
        "LSApplicationCategoryType": "public.app-category.productivity",
        # Retina rendering: Qt's own template sets both of these.
        "NSHighResolutionCapable": True,
        "NSPrincipalClass": "NSApplication",
        # False: follow the system's light/dark appearance instead of forcing light (Aqua).
        "NSRequiresAquaSystemAppearance": False,
        "NSHumanReadableCopyright": COPYRIGHT,
        # Folders can be dropped on MeMo's Dock icon or opened with "Open With": macOS
        # then sends an open-document event, which Qt delivers as a QFileOpenEvent.
        # "Alternate": MeMo is offered for folders but never becomes their default app.
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "Folder",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": ["public.folder"],
            }
        ],
        # Reasons shown in macOS's privacy prompts (Desktop, Documents and Downloads are
        # protected folders since macOS 10.15). MeMo sends no Apple events today; the string
        # is there so that a prompt, should one ever appear, explains itself.
        "NSAppleEventsUsageDescription": _WHY,
        "NSDesktopFolderUsageDescription": _WHY,
        "NSDocumentsFolderUsageDescription": _WHY,
        "NSDownloadsFolderUsageDescription": _WHY,
    }
