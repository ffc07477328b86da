"""Content references as Bitrix and editors write them (issue 12.3): quoted values with spaces, url(...)
with and without quotes, percent-encoding, HTML entities, absolute and protocol-relative URLs, srcset,
JSON escapes. Every fixture below and the set it must yield are written by hand."""
from __future__ import annotations

import pytest
from ansible_collections.bxops.bitrix.plugins.module_utils import bitrix_orphans as finder
from ansible_collections.bxops.bitrix.plugins.modules import bitrix_orphans as orphans
from conftest import OrphanSite

# (text as found in a page, a template or a DB column, upload-relative paths it must protect)
CASES = [
    ('<img src="/upload/medialibrary/abc/pic name.jpg" alt="">', {"medialibrary/abc/pic name.jpg"}),
    ("<img src='/upload/iblock/1a2/single quoted.png' alt=\"x\">", {"iblock/1a2/single quoted.png"}),
    ("background: url('/upload/iblock/bg image.jpg') no-repeat;", {"iblock/bg image.jpg"}),
    ('background:url("/upload/iblock/bg two.jpg")', {"iblock/bg two.jpg"}),
    ("background:url(/upload/iblock/bg-unquoted.jpg);", {"iblock/bg-unquoted.jpg"}),
    ("background:url(/upload/iblock/unquoted space.jpg)", {"iblock/unquoted space.jpg"}),
    ('<a href="/upload/docs/price%20list%202024.pdf">', {"docs/price list 2024.pdf"}),
    ('<a href="/upload/docs/%D0%BF%D1%80%D0%B0%D0%B9%D1%81.pdf">', {"docs/прайс.pdf"}),
    ('<img src="/upload/iblock/a&amp;b.jpg">', {"iblock/a&b.jpg"}),
    ('<img src="/upload/iblock/sp&#32;ace.jpg">', {"iblock/sp ace.jpg"}),
    ('<img src="https://example.com/upload/iblock/absolute.jpg">', {"iblock/absolute.jpg"}),
    ('<img src="//cdn.example.net/upload/iblock/proto rel.jpg">', {"iblock/proto rel.jpg"}),
    ('<img srcset="/upload/s/small.jpg 480w, /upload/s/large%20one.jpg 1080w" src="/upload/s/x.jpg">',
     {"s/small.jpg", "s/large one.jpg", "s/x.jpg"}),
    ('<img srcset="/upload/s/a.jpg 1x,/upload/s/b.jpg 2x">', {"s/a.jpg", "s/b.jpg"}),
    ('{"src":"\\/upload\\/iblock\\/json name.jpg"}', {"iblock/json name.jpg"}),
    ('{"src":"/upload/iblock/\\u0444\\u043e\\u0442\\u043e.jpg"}', {"iblock/фото.jpg"}),
    ("&lt;img src=&quot;/upload/iblock/escaped html.jpg&quot;&gt;", {"iblock/escaped html.jpg"}),
    ('<img src="/upload/iblock/q.jpg?v=123#top">', {"iblock/q.jpg"}),
    ('<img src="/upload/iblock/photo (1).jpg">', {"iblock/photo (1).jpg"}),
    ('<img src="/upload/iblock/O\'Brien.jpg">', {"iblock/O'Brien.jpg"}),
    ('a:1:{s:3:"src";s:25:"/upload/iblock/ser ial.jpg";}', {"iblock/ser ial.jpg"}),
    ("share?u=https%3A%2F%2Fexample.com%2Fupload%2Fiblock%2Fshared%20file.jpg&t=x", {"iblock/shared file.jpg"}),
    # unquoted text: where the reference ends is a guess, so both readings count
    ("Download /upload/files/report final.pdf today", {"files/report", "files/report final.pdf"}),
    ("/upload/iblock/start-of-value.jpg", {"iblock/start-of-value.jpg"}),
    ("See /upload/iblock/end.jpg.", {"iblock/end.jpg"}),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_form_is_recognised(text: str, expected: set[str]) -> None:
    regex = finder.reference_regex("upload")
    found = set(finder.extract_references(text.encode(), regex))
    missing = {path for path in expected if path.encode() not in found}
    assert not missing, f"not recognised: {missing} in {text!r}"


@pytest.mark.parametrize("text", ['<img src="/upload/../etc/passwd">', "url(/upload/a/../../../etc/shadow)",
                                  '<img src="/upload/%2e%2e/etc/passwd">'])
def test_a_reference_never_climbs_out_of_the_upload_folder(text: str) -> None:
    found = set(finder.extract_references(text.encode(), finder.reference_regex("upload")))
    assert not any(path == b".." or path.startswith((b"../", b"/")) for path in found), found


def test_other_upload_dirs_and_their_lookalikes() -> None:
    regex = finder.reference_regex("files/main")
    found = set(finder.extract_references(b'<img src="/files/main/iblock/a b.jpg"> /upload/iblock/c.jpg', regex))
    assert b"iblock/a b.jpg" in found and b"iblock/c.jpg" not in found


def test_other_hosts_are_referenced_and_listed() -> None:
    scanner = finder.ReferenceScanner("upload", ["example.com"])
    text = (b'<img src="https://www.example.com/upload/a.jpg"> <img src="//cdn.example.net/upload/b.jpg"> '
            b'<img src="http://Example.COM:8080/upload/c.jpg">')
    found = set(scanner.extract(text))
    assert {b"a.jpg", b"b.jpg", b"c.jpg"} <= found
    assert scanner.other_hosts == {"cdn.example.net": 1} and scanner.other_host_refs == 1


def test_the_module_keeps_files_referenced_with_spaces(orphan_site: OrphanSite) -> None:
    """End to end: files referenced only from content in the forms above stay; true orphans go."""
    site = orphan_site
    referenced = ["medialibrary/abc/pic name.jpg", "iblock/bg image.jpg", "docs/price list 2024.pdf",
                  "iblock/a&b.jpg", "s/large one.jpg", "iblock/proto rel.jpg", "iblock/фото.jpg",
                  "files/report final.pdf"]
    for rel in referenced:
        site.file(f"upload/{rel}")
    site.file("upload/iblock/true orphan.jpg")
    site.file("upload/iblock/bg.jpg")  # "bg" alone is named nowhere
    site.content('<p><img src="/upload/medialibrary/abc/pic name.jpg"></p>')
    site.content('<a href="/upload/docs/price%20list%202024.pdf">prices</a> <img src="/upload/iblock/a&amp;b.jpg">')
    site.content('<img srcset="/upload/s/large%20one.jpg 2x" src="//cdn.example.net/upload/iblock/proto rel.jpg">')
    site.content('{"src":"\\/upload\\/iblock\\/\\u0444\\u043e\\u0442\\u043e.jpg"}')
    site.content("Download /upload/files/report final.pdf today")
    (site.docroot / "local/templates/shop").mkdir(parents=True)
    (site.docroot / "local/templates/shop/styles.css").write_text(
        ".hero { background: url('/upload/iblock/bg image.jpg') }")
    report = orphans.run(site.params(mode="quarantine", site_domains=["example.com"]), site.source, check=False)
    assert set(report["orphans"]["sample"]) == {"upload/iblock/true orphan.jpg", "upload/iblock/bg.jpg"}
    assert report["referenced"]["other_hosts"] == {"cdn.example.net": 1}
    for rel in referenced:
        assert (site.docroot / "upload" / rel).exists(), rel
