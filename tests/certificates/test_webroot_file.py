"""bitrix_webroot_file: what the certificates role writes into the site's webroot (the ACME challenge) never goes
through a symlink the site user planted (issue 11.6). Real files and symlinks in a temporary docroot; the expected
states are written out by hand."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils.bitrix_docroot import UnsafePath
from ansible_collections.bxops.bitrix.plugins.modules.bitrix_webroot_file import apply

CHALLENGE = ".well-known/acme-challenge"


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    """A docroot and, outside it, a sentinel folder standing for /etc (mode 0755, one file 0644)."""
    docroot = tmp_path / "www"
    docroot.mkdir()
    sentinel = tmp_path / "etc"
    sentinel.mkdir()
    (sentinel / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.chmod(sentinel, 0o755)
    os.chmod(sentinel / "passwd", 0o644)
    return docroot, sentinel


def _state(folder: Path) -> list[tuple[str, int, int, int]]:
    out = []
    for path in sorted([folder, *folder.rglob("*")]):
        st = path.lstat()
        out.append((str(path.relative_to(folder.parent)), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)))
    return out


def test_creates_the_challenge_folders_and_writes_then_removes_the_answer(site: tuple[Path, Path]) -> None:
    docroot, _sentinel = site
    made = apply(str(docroot), CHALLENGE, "directory", mode=0o755)
    assert made["changed"] and made["created"] == [".well-known", ".well-known/acme-challenge"]
    assert stat.S_IMODE((docroot / CHALLENGE).stat().st_mode) == 0o755
    again = apply(str(docroot), CHALLENGE, "directory", mode=0o755)
    assert not again["changed"] and again["created"] == []
    wrote = apply(str(docroot), f"{CHALLENGE}/tok-EN_1", "present", content="tok-EN_1.thumb", mode=0o644)
    assert wrote["changed"] and (docroot / CHALLENGE / "tok-EN_1").read_text() == "tok-EN_1.thumb"
    assert stat.S_IMODE((docroot / CHALLENGE / "tok-EN_1").stat().st_mode) == 0o644
    assert not apply(str(docroot), f"{CHALLENGE}/tok-EN_1", "present", content="tok-EN_1.thumb", mode=0o644)["changed"]
    assert apply(str(docroot), f"{CHALLENGE}/tok-EN_1", "absent")["changed"]
    assert not (docroot / CHALLENGE / "tok-EN_1").exists()
    assert not apply(str(docroot), f"{CHALLENGE}/tok-EN_1", "absent")["changed"]


@pytest.mark.parametrize(
    "link, rel",
    [
        (".well-known", CHALLENGE),
        (".well-known/acme-challenge", CHALLENGE),
        ("pub", f"pub/{CHALLENGE}"),  # a folder of the webroot itself
    ],
)
def test_a_symlink_on_the_way_is_refused_naming_it_and_nothing_changes(
    site: tuple[Path, Path], link: str, rel: str
) -> None:
    docroot, sentinel = site
    (docroot / link).parent.mkdir(parents=True, exist_ok=True)
    (docroot / link).symlink_to(sentinel)
    before = _state(sentinel)
    for state, content in (("directory", None), ("present", "x"), ("absent", None)):
        target = rel if state == "directory" else f"{rel}/token"
        with pytest.raises(UnsafePath) as refused:
            apply(str(docroot), target, state, content=content, mode=0o755, uid=os.getuid(), gid=os.getgid())
        message = str(refused.value)
        assert f"{docroot / link} is a symlink (-> {sentinel})" in message or (
            f"{docroot / link}: it is a symlink (-> {sentinel})" in message
        ), message
        assert "\n" not in message
    assert _state(sentinel) == before, "the sentinel folder (standing for /etc) was changed"


def test_a_symlink_at_the_answer_name_is_replaced_not_followed(site: tuple[Path, Path]) -> None:
    docroot, sentinel = site
    apply(str(docroot), CHALLENGE, "directory")
    answer = docroot / CHALLENGE / "token"
    answer.symlink_to(sentinel / "passwd")
    apply(str(docroot), f"{CHALLENGE}/token", "present", content="token.thumb")
    assert not answer.is_symlink() and answer.read_text() == "token.thumb"
    assert (sentinel / "passwd").read_text() == "root:x:0:0::/root:/bin/sh\n"
    answer.unlink()
    answer.symlink_to(sentinel / "passwd")
    apply(str(docroot), f"{CHALLENGE}/token", "absent")
    assert not answer.is_symlink() and (sentinel / "passwd").is_file()


def test_check_mode_changes_nothing(site: tuple[Path, Path]) -> None:
    docroot, _sentinel = site
    result = apply(str(docroot), CHALLENGE, "directory", check=True)
    assert result["changed"] and not (docroot / ".well-known").exists()
    apply(str(docroot), CHALLENGE, "directory")
    assert apply(str(docroot), f"{CHALLENGE}/t", "present", content="v", check=True)["changed"]
    assert not (docroot / CHALLENGE / "t").exists()


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", ".well-known/../../x", "a\nb"])
def test_paths_leaving_the_docroot_are_refused(site: tuple[Path, Path], bad: str) -> None:
    docroot, _sentinel = site
    with pytest.raises(UnsafePath):
        apply(str(docroot), bad, "present", content="x")
    assert sorted(os.listdir(docroot)) == []
