"""Handout PDFs: content and metadata, privacy of the printed context, the
static-only URL fetcher, the on-disk cache, and a look at the pixels."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
from pathlib import Path

import diskcache
import pytest
from handout_samples import GUIDANCE, MODULE
from pypdf import PdfReader

from groups.handouts import render
from groups.handouts.library import CONTENT_DIR, load_library
from groups.handouts.render import (
    STATIC_DIR,
    PrintContext,
    StaticOnlyFetcher,
    URLRefused,
    pdf_cache_key,
    render_handouts_pdf,
    static_path_for_url,
)

CONTEXT = PrintContext(
    practice_name="Riverside Psychiatry Associates",
    group_name="Tuesday Evening Group",
    focus_label=None,
    session_date="Tuesday 14 May 2025",
    module_title="Worry time",
)
PHONE = "(555) 010-0123"
ATTACKS = (
    '<img src="file:///etc/passwd">',
    '<link rel="attachment" href="file:///etc/passwd">',
    "<style>@import url(http://127.0.0.1:9/x.css);</style>",
)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def sample_library(tmp_path):
    content = tmp_path / "content"
    (content / "guidance").mkdir(parents=True)
    (content / "modules").mkdir()
    (content / "guidance/sample-guidance.md").write_text(GUIDANCE, encoding="utf-8")
    (content / "modules/sample-module.md").write_text(MODULE, encoding="utf-8")
    return load_library(content)


@pytest.fixture(autouse=True)
def no_default_cache(monkeypatch):
    monkeypatch.setattr(render, "_cache", None)


@pytest.fixture
def pdf_cache(tmp_path):
    """A 1 MB cache in its own directory, closed after the test."""
    directory = tmp_path / "pdf-cache"
    render.set_cache_dir(directory, max_mb=1)
    yield directory
    render.set_cache_dir(None, max_mb=1)


@pytest.fixture
def fetched(monkeypatch):
    """Every URL WeasyPrint asks the fetcher for, whether served or refused."""
    urls: list[str] = []
    original = StaticOnlyFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original(self, url, headers)

    monkeypatch.setattr(StaticOnlyFetcher, "fetch", spy)
    return urls


@pytest.fixture
def write_calls(monkeypatch):
    calls: list[str] = []
    original = render._write_pdf

    def spy(html):
        calls.append(html)
        return original(html)

    monkeypatch.setattr(render, "_write_pdf", spy)
    return calls


# ---- Every real handout, rendered once per session -------------------------


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    library = load_library(CONTENT_DIR)
    assert len(library) > 0
    # The fullest header: every field printed at the longest a form accepts
    # (120 characters), a member's copy. The header cuts long names, so
    # handouts keep their page count.
    context = dataclasses.replace(
        CONTEXT,
        group_name="Tuesday Evening Group, Riverside Clinic second floor " + "x" * 67,
        module_title="Relationships, support and communicating needs " + "y" * 73,
        member_name="Maria López",
        focus_label="Depression",
        practice_phone=PHONE,
    )
    return {handout.slug: (handout, render_handouts_pdf([handout], context)) for handout in library}


def test_every_handout_renders_with_title_author_and_pages(rendered):
    for slug, (handout, pdf) in rendered.items():
        reader = PdfReader(io.BytesIO(pdf))
        # One sheet of paper at most, printed on both sides.
        assert 1 <= len(reader.pages) <= 2, f"{slug}: {len(reader.pages)} pages"
        assert reader.metadata.title == handout.title, slug
        assert reader.metadata.author == CONTEXT.practice_name, slug
        assert reader.trailer["/Root"]["/Lang"] == "en", slug
        text = flat(pdf_text(pdf))
        assert flat(handout.title) in text, slug
        assert "Copy for Maria López" in text, slug
        assert f"Page 1 of {len(reader.pages)}" in text, slug


def test_every_handout_carries_the_phone_and_crisis_line_on_every_page(rendered):
    for slug, (handout, pdf) in rendered.items():
        for page in PdfReader(io.BytesIO(pdf)).pages:
            text = flat(page.extract_text())
            assert f"Riverside Psychiatry Associates · {PHONE} · Copy for" in text, slug
            assert "Call or text 988 (US), or 911 in an emergency." in text, slug
        box = "help between sessions" in pdf_text(pdf).lower()
        assert box == (handout.kind == "module"), slug


def test_every_handout_produces_non_blank_pages(rendered, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    for slug, (_handout, pdf) in rendered.items():
        source = tmp_path / f"{slug}.pdf"
        source.write_bytes(pdf)
        subprocess.run(
            ["pdftoppm", "-gray", "-r", "40", str(source), str(tmp_path / slug)],
            check=True,
            timeout=60,
        )
        pages = sorted(tmp_path.glob(f"{slug}-*.pgm"))
        assert len(pages) == len(PdfReader(io.BytesIO(pdf)).pages), slug
        for page in pages:
            width, height, pixels = read_pgm(page.read_bytes())
            inked = sum(1 for value in pixels if value < 200)
            assert inked > width * height * 0.002, f"{page.name} looks blank"


def read_pgm(data: bytes) -> tuple[int, int, bytes]:
    """Parse binary PGM (P5, 8-bit) as written by pdftoppm -gray."""
    fields, position = [], 0
    while len(fields) < 4:
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    assert magic == b"P5" and maxval == 255
    pixels = data[position + 1 : position + 1 + width * height]
    assert len(pixels) == width * height
    return width, height, pixels


# ---- Printed context -------------------------------------------------------


def test_member_copy_and_context_are_printed(sample_library):
    context = dataclasses.replace(CONTEXT, member_name="Jordan Lee", focus_label="Anxiety")
    text = flat(pdf_text(render_handouts_pdf([sample_library["sample-guidance"]], context)))
    for expected in (
        "Copy for Jordan Lee",
        "Riverside Psychiatry Associates",
        "Tuesday Evening Group",
        "Tuesday 14 May 2025",
        "Worry time",
        "Anxiety",
        "Page 1 of 1",
    ):
        assert expected in text


def test_without_a_phone_the_footer_leaves_it_out(sample_library):
    module = sample_library["sample-module"]
    text = flat(pdf_text(render_handouts_pdf([module], CONTEXT)))
    assert "Riverside Psychiatry Associates Call or text 988" in text  # no " · " and no gap
    assert "· ·" not in text and "at ." not in text
    assert "contact Riverside Psychiatry Associates." in text


def test_the_practice_sets_its_own_crisis_line(sample_library):
    context = dataclasses.replace(
        CONTEXT, practice_phone="020 7946 0000", crisis_text="In a crisis, call 999"
    )
    text = flat(pdf_text(render_handouts_pdf([sample_library["sample-module"]], context)))
    assert "Riverside Psychiatry Associates · 020 7946 0000" in text
    assert "call Riverside Psychiatry Associates at 020 7946 0000." in text
    assert "In a crisis, call 999." in text and "988" not in text


def test_fill_table_prints_ruled_cells(sample_library, tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    source = sample_library["sample-module"].source_path
    source.write_text(MODULE.replace(":::lines 3", ":::table 6 | Step {3} | Done"), "utf-8")
    handout = load_library(source.parents[1])["sample-module"]
    pdf = tmp_path / "table.pdf"
    pdf.write_bytes(render_handouts_pdf([handout], CONTEXT))
    subprocess.run(["pdftoppm", "-gray", "-r", "50", str(pdf), str(tmp_path / "p")], check=True)
    width, height, pixels = read_pgm((tmp_path / "p-1.pgm").read_bytes())
    # A vertical scan through the Step column crosses the header's two rules
    # and one rule under each of the six empty rows.
    x = width // 4
    column = [pixels[y * width + x] < 200 for y in range(height)]
    rules = sum(1 for y in range(1, height) if column[y] and not column[y - 1])
    assert rules >= 8

    text = pdf_text(render_handouts_pdf([sample_library["sample-guidance"]], CONTEXT)).lower()
    assert "focus" not in text
    assert not any(word in text for word in ("anxiety", "depression", "adhd"))
    assert "copy for" not in text


def test_packet_starts_each_handout_on_a_new_page(sample_library):
    handouts = [sample_library["sample-module"], sample_library["sample-guidance"]]
    pdf = render_handouts_pdf(handouts, CONTEXT)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    assert "A module worksheet" in reader.pages[0].extract_text()
    assert "Talking it through" in reader.pages[1].extract_text()
    assert "Talking it through" not in reader.pages[0].extract_text()
    assert reader.metadata.title == "Session handouts – Tuesday 14 May 2025"
    titled = render_handouts_pdf(handouts, CONTEXT, title="Week 3 packet")
    assert PdfReader(io.BytesIO(titled)).metadata.title == "Week 3 packet"


def test_no_handouts_is_an_error():
    with pytest.raises(ValueError):
        render_handouts_pdf([], CONTEXT)


# ---- Nothing outside static/ is ever loaded --------------------------------


def assert_nothing_leaked(pdf: bytes, urls: list[str]):
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    assert "/Names" not in reader.trailer["/Root"] or (
        "/EmbeddedFiles" not in reader.trailer["/Root"]["/Names"]
    )
    text = pdf_text(pdf)
    assert "root:" not in text and "/bin/" not in text
    static = STATIC_DIR.resolve().as_uri() + "/"
    assert urls, "the stylesheet should have gone through the fetcher"
    assert all(url.startswith(static) for url in urls), urls


@pytest.mark.parametrize("field", ["group_name", "member_name", "module_title", "practice_name"])
def test_user_text_is_escaped_and_fetches_nothing(sample_library, fetched, field):
    context = dataclasses.replace(CONTEXT, **{field: " ".join(ATTACKS)})
    pdf = render_handouts_pdf([sample_library["sample-guidance"]], context)
    assert_nothing_leaked(pdf, fetched)
    assert '<img src="file:///etc/passwd">' in flat(pdf_text(pdf))


def test_fetcher_blocks_raw_html_that_bypasses_escaping(fetched):
    html = f"""<!DOCTYPE html><html lang="en"><head><title>t</title>
    <link rel="stylesheet" href="print.css">
    <link rel="stylesheet" href="http://127.0.0.1:9/x.css">
    <link rel="attachment" href="file:///etc/passwd">
    <link rel="attachment" href="../../../../../../etc/passwd">
    <style>@import url(http://127.0.0.1:9/y.css);</style></head>
    <body><p>Body text</p>{ATTACKS[0]}<img src="data:image/png;base64,iVBORw0KGgo=">
    <img src="../pyproject.toml"></body></html>"""
    pdf = render._write_pdf(html)
    assert "Body text" in pdf_text(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.attachments == {}
    refused = [url for url in fetched if not url.startswith(STATIC_DIR.resolve().as_uri() + "/")]
    assert any("etc/passwd" in url for url in refused)
    assert any(url.startswith("http://127.0.0.1:9/") for url in refused)
    for url in refused:
        with pytest.raises(URLRefused):
            static_path_for_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:9/x.css",
        "https://example.org/print.css",
        "data:text/css,body{color:red}",
        "ftp://example.org/x.css",
        "file://evil.example/" + str(STATIC_DIR / "print.css"),
        (STATIC_DIR / "print.css").as_uri().replace("/print.css", "/../pyproject.toml"),
        (STATIC_DIR / "missing.css").as_uri(),
        "not a url",
    ],
)
def test_fetcher_refuses_everything_outside_static(url):
    with pytest.raises(URLRefused):
        static_path_for_url(url)
    with pytest.raises(URLRefused):
        StaticOnlyFetcher().fetch(url)


def test_fetcher_serves_the_stylesheet():
    response = StaticOnlyFetcher().fetch((STATIC_DIR / "print.css").as_uri())
    try:
        assert response.content_type == "text/css"
        assert b"@page" in response.read()
    finally:
        response.close()


def test_fetcher_does_not_follow_symlinks_out_of_static(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    (static / "link.css").symlink_to(secret)
    (static / "ok.css").write_text("p {}")
    assert (
        static_path_for_url((static / "ok.css").as_uri(), static) == (static / "ok.css").resolve()
    )
    with pytest.raises(URLRefused):
        static_path_for_url((static / "link.css").as_uri(), static)


# ---- Cache -----------------------------------------------------------------


def test_second_render_comes_from_the_cache(sample_library, pdf_cache, write_calls):
    handout = sample_library["sample-module"]
    first = render_handouts_pdf([handout], CONTEXT)
    second = render_handouts_pdf([handout], CONTEXT)
    assert first == second and len(write_calls) == 1

    other = render_handouts_pdf([handout], dataclasses.replace(CONTEXT, member_name="Sam"))
    assert other != first and len(write_calls) == 2


def test_another_worker_reads_the_same_cache(sample_library, pdf_cache, write_calls):
    handout = sample_library["sample-module"]
    pdf = render_handouts_pdf([handout], CONTEXT)
    # A second Cache on the same directory is what another worker process opens.
    with diskcache.Cache(str(pdf_cache)) as other_worker:
        assert other_worker.get(pdf_cache_key([handout], CONTEXT)) == pdf


def test_editing_the_content_file_invalidates_the_cache(sample_library, pdf_cache, write_calls):
    handout = sample_library["sample-guidance"]
    before = render_handouts_pdf([handout], CONTEXT)
    path = Path(handout.source_path)
    path.write_text(GUIDANCE.replace("Some calm words", "Some new words"), "utf-8")
    edited = load_library(path.parents[1])["sample-guidance"]
    assert edited.content_hash != handout.content_hash
    after = render_handouts_pdf([edited], CONTEXT)
    assert after != before and len(write_calls) == 2
    assert "Some new words" in pdf_text(after)


def test_cache_stays_under_its_limit_evicting_the_least_recently_used(
    sample_library, pdf_cache, monkeypatch
):
    """30 PDFs of 50 kB into a 1 MB cache: the oldest go, unless read again."""
    renders: list[str] = []

    def fake_pdf(html):
        renders.append(html)
        return b"%PDF-" + bytes([len(renders)]) * 50_000

    monkeypatch.setattr(render, "_write_pdf", fake_pdf)
    handout = [sample_library["sample-module"]]
    contexts = [dataclasses.replace(CONTEXT, member_name=f"Member {n}") for n in range(30)]
    for context in contexts:
        render_handouts_pdf(handout, context)
        render_handouts_pdf(handout, contexts[0])  # member 0 is read after every write
        assert render._cache.volume() <= 1024 * 1024 + 50_000  # one write above, at most
    assert len(renders) == 30  # every repeat of member 0 came from the cache

    render_handouts_pdf(handout, contexts[1])
    assert len(renders) == 31  # the least recently used was evicted: rendered again
    render_handouts_pdf(handout, contexts[-1])
    assert len(renders) == 31  # the newest is still there


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(PrintContext)])
def test_cache_key_covers_every_context_field(sample_library, field):
    handouts = [sample_library["sample-guidance"]]
    changed = dataclasses.replace(CONTEXT, **{field: "something else"})
    assert pdf_cache_key(handouts, changed) != pdf_cache_key(handouts, CONTEXT)


def test_cache_key_covers_handouts_title_and_order(sample_library):
    a, b = sample_library["sample-guidance"], sample_library["sample-module"]
    keys = {
        pdf_cache_key([a], CONTEXT),
        pdf_cache_key([b], CONTEXT),
        pdf_cache_key([a, b], CONTEXT),
        pdf_cache_key([b, a], CONTEXT),
        pdf_cache_key([a], CONTEXT, title="Packet"),
    }
    assert len(keys) == 5


def test_unusable_cache_directory_still_returns_the_pdf(sample_library, tmp_path, write_calls):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    render.set_cache_dir(blocker, max_mb=1)
    pdf = render_handouts_pdf([sample_library["sample-module"]], CONTEXT)
    assert pdf.startswith(b"%PDF") and len(write_calls) == 1


def test_font_configuration_is_shared():
    assert render.font_config() is render.font_config()


def test_the_pdf_cache_folder_is_readable_by_the_app_only(tmp_path):
    """Member copies carry names: nobody but the app's own user may open the cache."""
    folder = tmp_path / "pdf-cache"
    render.set_cache_dir(folder, max_mb=1)
    try:
        assert folder.stat().st_mode & 0o777 == 0o700
    finally:
        render.set_cache_dir(None, max_mb=0)
