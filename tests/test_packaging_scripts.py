"""The macOS packaging pieces that can be checked off a Mac: the scripts' refusals, the
Info.plist keys, the entitlements file and the generated icons.

The scripts check their arguments, then their environment variables, then their input, and
only then the platform, so every refusal but the last is the same on Linux and macOS. Nothing
here signs, notarizes or builds anything.
"""

from __future__ import annotations

import importlib.util
import os
import plistlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
MACOS = PACKAGING / "macos"
ICONS = ROOT / "resources" / "icons"
TEAM = "AB12CD34EF"
IDENTITY = f"Developer ID Application: Jane Doe ({TEAM})"
ON_MAC = sys.platform == "darwin"
not_on_mac = pytest.mark.skipif(ON_MAC, reason="on macOS the script would go on to sign for real")

# script -> (arguments after the input, the variables it needs)
SCRIPTS = {
    "sign.sh": ((), ("MEMO_SIGN_IDENTITY", "MEMO_TEAM_ID")),
    "dmg.sh": (("OUT.dmg",), ("MEMO_SIGN_IDENTITY", "MEMO_TEAM_ID")),
    "notarize.sh": ((), ("MEMO_NOTARY_PROFILE", "MEMO_TEAM_ID")),
}
GOOD_ENV = {"MEMO_SIGN_IDENTITY": IDENTITY, "MEMO_TEAM_ID": TEAM, "MEMO_NOTARY_PROFILE": "memo"}


def load_macos_plist():
    """packaging/macos_plist.py, loaded by path: packaging/ is not a package on purpose (it
    would shadow the PyPI `packaging` module)."""
    spec = importlib.util.spec_from_file_location("memo_macos_plist", PACKAGING / "macos_plist.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script: str, *args: str, env: dict[str, str] | None = None):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEMO_")}
    clean.update(env or {})
    return subprocess.run(
        [str(MACOS / script), *args], env=clean, capture_output=True, text=True, timeout=30
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """Something shaped like an app bundle, enough to get past the input checks."""
    bundle = tmp_path / "MeMo.app"
    (bundle / "Contents" / "MacOS").mkdir(parents=True)
    (bundle / "Contents" / "Info.plist").write_bytes(plistlib.dumps({"CFBundleExecutable": "MeMo"}))
    return bundle


def input_for(script: str, app: Path, tmp_path: Path) -> list[str]:
    extra, _ = SCRIPTS[script]
    return [str(app), *(str(tmp_path / name) for name in extra)]


# --- the scripts -------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_is_executable_strict_bash_with_a_header(script: str) -> None:
    path = MACOS / script
    text = path.read_text()
    assert path.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    header = text.split("set -euo pipefail")[0]
    assert "developer.apple.com" in header  # the Apple doc it follows
    for var in SCRIPTS[script][1]:
        assert var in header
    # Apple: never sign with --deep; it is for verifying only.
    for line in text.splitlines():
        if line.lstrip().startswith(("codesign", "sign()")) and "--deep" in line:
            assert "--verify" in line, line


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_arguments_is_a_usage_error(script: str) -> None:
    result = run(script, env=GOOD_ENV)
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: packaging/macos/{script} ")


@pytest.mark.parametrize("script", SCRIPTS)
def test_too_many_arguments_is_a_usage_error(script: str) -> None:
    result = run(script, "a", "b", "c", env=GOOD_ENV)
    assert result.returncode == 2
    assert "usage:" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_usage_and_the_header(script: str) -> None:
    result = run(script, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stderr
    assert "developer.apple.com" in result.stderr


@pytest.mark.parametrize(
    ("script", "variable"), [(s, v) for s, (_, needs) in SCRIPTS.items() for v in needs]
)
def test_a_missing_variable_is_named_before_anything_else(
    script: str, variable: str, app: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in GOOD_ENV.items() if k != variable}
    result = run(script, *input_for(script, app, tmp_path), env=env)
    assert result.returncode == 2
    assert f"{variable} is not set" in result.stderr
    assert "macOS only" not in result.stderr  # checked before the platform
    assert ": it must " in result.stderr  # says what it should hold


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_missing_variable_is_named_at_once(script: str, app: Path, tmp_path: Path) -> None:
    result = run(script, *input_for(script, app, tmp_path), env={})
    assert result.returncode == 2
    for variable in SCRIPTS[script][1]:
        assert f"{variable} is not set" in result.stderr


def test_sign_names_where_to_find_the_identity(app: Path) -> None:
    result = run("sign.sh", str(app), env={"MEMO_TEAM_ID": TEAM})
    assert "security find-identity -v -p codesigning" in result.stderr


def test_notarize_says_how_to_store_the_credentials(app: Path) -> None:
    result = run("notarize.sh", str(app), env={"MEMO_TEAM_ID": TEAM})
    assert "xcrun notarytool store-credentials" in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_malformed_team_id_is_refused(script: str, app: Path, tmp_path: Path) -> None:
    env = {**GOOD_ENV, "MEMO_TEAM_ID": "jane"}
    result = run(script, *input_for(script, app, tmp_path), env=env)
    assert result.returncode == 2
    assert "MEMO_TEAM_ID='jane' is not a Team ID" in result.stderr


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ("-", "ad-hoc"),
        ("Developer ID Application: Jane Doe (ZZZZZZZZZZ)", "does not belong to MEMO_TEAM_ID"),
        ("Apple Development: Jane Doe (ZZZZZZZZZZ)", "not a Developer ID Application identity"),
    ],
)
def test_sign_refuses_an_identity_that_cannot_be_notarized(
    identity: str, message: str, app: Path
) -> None:
    result = run("sign.sh", str(app), env={**GOOD_ENV, "MEMO_SIGN_IDENTITY": identity})
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_input_is_named(script: str, tmp_path: Path) -> None:
    missing = tmp_path / "Nowhere.app"
    result = run(script, *input_for(script, missing, tmp_path), env=GOOD_ENV)
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert "macOS only" not in result.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_folder_that_is_not_an_app_bundle_is_refused(script: str, tmp_path: Path) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    result = run(script, *input_for(script, folder, tmp_path), env=GOOD_ENV)
    assert result.returncode == 2
    assert "not an .app bundle" in result.stderr or "neither an .app" in result.stderr


def test_dmg_wants_a_dmg_in_an_existing_folder(app: Path, tmp_path: Path) -> None:
    result = run("dmg.sh", str(app), str(tmp_path / "MeMo.zip"), env=GOOD_ENV)
    assert result.returncode == 2
    assert "must be a .dmg" in result.stderr
    result = run("dmg.sh", str(app), str(tmp_path / "no" / "MeMo.dmg"), env=GOOD_ENV)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


@not_on_mac
@pytest.mark.parametrize("script", SCRIPTS)
def test_off_macos_the_script_refuses_naming_macos(script: str, app: Path, tmp_path: Path) -> None:
    result = run(script, *input_for(script, app, tmp_path), env=GOOD_ENV)
    assert result.returncode == 1
    assert "runs on macOS only (it needs codesign/xcrun/hdiutil)" in result.stderr
    assert not (tmp_path / "OUT.dmg").exists()


@not_on_mac
def test_notarize_accepts_a_dmg_up_to_the_platform_check(tmp_path: Path) -> None:
    dmg = tmp_path / "MeMo.dmg"
    dmg.write_bytes(b"not really a disk image")
    result = run("notarize.sh", str(dmg), env=GOOD_ENV)
    assert result.returncode == 1
    assert "macOS only" in result.stderr


# --- entitlements --------------------------------------------------------------------------


def test_entitlements_are_plain_xml_with_only_what_is_needed() -> None:
    raw = (MACOS / "entitlements.plist").read_bytes()
    # Apple: standard XML format, LF line endings, no comments, no byte-order mark.
    assert raw.startswith(b"<?xml ")
    assert b"\r" not in raw
    assert b"<!--" not in raw
    entitlements = plistlib.loads(raw)
    assert entitlements == {"com.apple.security.cs.allow-unsigned-executable-memory": True}
    assert not any("network" in key or "app-sandbox" in key for key in entitlements)


def test_the_entitlements_are_justified_where_comments_are_allowed() -> None:
    text = (MACOS / "sign.sh").read_text()
    for key in ("allow-unsigned-executable-memory", "allow-jit", "disable-library-validation"):
        assert key in text
    assert "network" in text


# --- Info.plist ----------------------------------------------------------------------------


def test_info_plist_keys() -> None:
    plist = load_macos_plist().info_plist("1.2.3")
    assert plist["CFBundleIdentifier"] == "org.memo-mlx.MeMo"
    assert plist["CFBundleName"] == plist["CFBundleDisplayName"] == "MeMo"
    assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == "1.2.3"
    assert plist["LSApplicationCategoryType"] == "public.app-category.productivity"
    assert plist["NSHighResolutionCapable"] is True
    assert plist["NSRequiresAquaSystemAppearance"] is False
    assert "MeMo" in plist["NSHumanReadableCopyright"]
    for key in (
        "NSAppleEventsUsageDescription",
        "NSDesktopFolderUsageDescription",
        "NSDocumentsFolderUsageDescription",
        "NSDownloadsFolderUsageDescription",
    ):
        assert "MeMo" in plist[key] and "Mac" in plist[key]


def test_info_plist_opens_folders() -> None:
    types = load_macos_plist().info_plist("1.2.3")["CFBundleDocumentTypes"]
    folder = [t for t in types if "public.folder" in t["LSItemContentTypes"]]
    assert folder, "folders are not among the document types"
    assert folder[0]["CFBundleTypeRole"] == "Viewer"
    assert folder[0]["LSHandlerRank"] == "Alternate"


def test_minimum_macos_is_the_one_the_mlx_wheels_need() -> None:
    minimum = load_macos_plist().info_plist("1.2.3")["LSMinimumSystemVersion"]
    major, minor = (int(part) for part in minimum.split("."))
    assert (major, minor) >= (14, 0)  # mlx 0.32 ships macOS wheels for 14.0 and later only


def test_info_plist_serializes() -> None:
    data = plistlib.dumps(load_macos_plist().info_plist("0.1.0"))
    assert plistlib.loads(data)["CFBundleVersion"] == "0.1.0"


def test_packaging_folder_does_not_shadow_the_packaging_module() -> None:
    assert not (PACKAGING / "__init__.py").exists()


# --- icons ---------------------------------------------------------------------------------


def test_icon_files_are_committed() -> None:
    for name in ("memo.svg", "memo.icns", "memo.png", "memo.ico"):
        path = ICONS / name
        assert path.is_file() and path.stat().st_size > 0, f"missing {path}"
    assert (ICONS / "memo.icns").read_bytes()[:4] == b"icns"
    assert (ICONS / "memo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_icns_holds_every_size_up_to_1024() -> None:
    image_module = pytest.importorskip("PIL.Image")
    with image_module.open(ICONS / "memo.icns") as icns:
        sizes = set(icns.info["sizes"])
        assert {(512, 512, 2), (512, 512, 1), (256, 256, 1), (128, 128, 1), (16, 16, 2)} <= sizes
        icns.size = (512, 512)
        icns.load(scale=2)
        assert icns.size == (1024, 1024)
    with image_module.open(ICONS / "memo.png") as png:
        assert png.size == (512, 512)
        assert png.mode == "RGBA"
    with image_module.open(ICONS / "memo.ico") as ico:
        assert (256, 256) in ico.info["sizes"] and (16, 16) in ico.info["sizes"]
