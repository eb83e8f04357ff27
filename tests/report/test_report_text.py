"""The filters that make untrusted text inert in markdown: checked by parsing the result with markdown-it."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from evalgate.report import text as rt

MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

# text rich in what markdown and HTML treat specially
NASTY = st.lists(
    st.sampled_from(
        [*"`|\\*_[]()!<>&#@~$-=+.: \n\r\tab1/", "</details>", "<!--", "-->", "```", "\x1b", "&amp;"]
    )
).map("".join)
ANY = st.one_of(NASTY, st.text())


def expected_text(value: str, newline: str) -> str:
    """What a reader should see: the value with CR normalized, controls shown, mentions and refs defused."""
    text = rt.clean(value)
    text = re.sub(r"#(?=\d)", "#" + rt.ZWSP, text).replace("\t", " ")
    return text.replace("\n", newline)


def inline_children(markdown: str) -> list:
    tokens = MD.parse(markdown)
    inlines = [t for t in tokens if t.type == "inline"]
    assert len(inlines) == 1, [t.type for t in tokens]
    return inlines[0].children


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(ANY)
def test_inline_text_stays_plain_text_on_its_line(value: str) -> None:
    markdown = "before " + rt.inline(value) + " after"
    tokens = MD.parse(markdown)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"]
    children = tokens[1].children
    assert {child.type for child in children} <= {"text"}
    shown = "".join(child.content for child in children)
    assert shown == "before " + expected_text(value, " ") + " after"


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(ANY)
def test_a_cell_keeps_the_row_at_one_column_and_shows_the_text(value: str) -> None:
    markdown = f"| h |\n|---|\n| {rt.cell(value)} |\n"
    tokens = MD.parse(markdown)
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 1
    inline = tokens[[t.type for t in tokens].index("td_open") + 1]
    assert {child.type for child in inline.children} <= {"text", "html_inline"}
    assert all(child.content == "<br>" for child in inline.children if child.type == "html_inline")
    shown = "".join("\n" if c.type == "html_inline" else c.content for c in inline.children)
    assert shown.strip() == expected_text(value, "\n").strip()  # a cell is trimmed


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(ANY)
def test_a_block_is_one_fence_holding_the_text_exactly(value: str) -> None:
    tokens = MD.parse("before\n\n" + rt.block(value) + "\n\nafter\n")
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1
    assert fences[0].content == rt.clean(value, defuse_mentions=False) + "\n"
    assert tokens[-2].content == "after"  # the text did not swallow what follows


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text += data

    def handle_comment(self, data: str) -> None:
        self.tags.append("comment")


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(ANY)
def test_htmltext_adds_no_tags_or_comments(value: str) -> None:
    parser = _Tags()
    parser.feed(f"<summary>{rt.htmltext(value)}</summary>")
    parser.close()
    assert parser.tags == ["summary", "/summary"]
    assert parser.text == html.unescape(rt.htmltext(value))


def test_mentions_get_a_zero_width_space_and_emails_do_not() -> None:
    text = "cc @octocat and @acme/security-team, mail a@b.com, see main@3f2a9c1"
    assert text in rt.block(text)  # inside a fence GitHub notifies nobody: the text stays exactly as written
    for out in (rt.inline(text), rt.cell(text), rt.htmltext(text)):
        assert "@\u200boctocat" in out
        assert "@\u200bacme/security" in out
        assert "a@b.com" in out.replace("\\", "")
        assert "main@3f2a9c1" in out
        assert not re.search(r"(?<![A-Za-z0-9])@[A-Za-z0-9]", out)


def test_issue_references_are_defused_in_text_and_kept_in_code() -> None:
    assert rt.inline("fixes #123") == "fixes #\u200b123"
    assert "fixes #123" in rt.block("fixes #123")


def test_html_and_markers_are_shown_as_text() -> None:
    text = "<!-- evalgate:x --></details><script>alert(1)</script><img src=x onerror=alert(1)>"
    out = rt.inline(text)
    assert "<" not in out and ">" not in out
    assert MD.render(out).count("&lt;") == 5


def test_images_and_links_are_not_links() -> None:
    rendered = MD.render(
        rt.inline("![pixel](http://evil.example/p.png) [x](javascript:alert(1)) <http://e.x>")
    )
    assert "<img" not in rendered and "<a " not in rendered
    assert "![pixel](http://evil.example/p.png)" in html.unescape(rendered)


def test_control_characters_are_shown_escaped_and_line_endings_normalized() -> None:
    assert rt.clean("\x1b[31mred\x00\r\nx\ry") == "\\x1b[31mred\\x00\nx\ny"


def test_fence_is_longer_than_any_backtick_run() -> None:
    assert rt.fence_for("plain") == "```"
    assert rt.fence_for("````python\nx\n````") == "`````"
    assert rt.fence_for("a ``````` b") == "````````"


def test_clip_cuts_at_a_word_boundary_and_counts_what_was_cut() -> None:
    text = "alpha beta gamma delta epsilon"
    clipped = rt.clip(text, 20)
    assert clipped.text == "alpha beta gamma…"
    assert clipped.cut == len(text) - len("alpha beta gamma")
    long_line = "x" * 50_000
    clipped = rt.clip(long_line, 400)
    assert clipped.text == "x" * 400 + "…"
    assert clipped.cut == 49_600
    assert rt.clip("short", 400) == rt.Clipped("short", 0)


def test_structured_values_are_json() -> None:
    assert rt.to_text({"message": "hi", "n": 2}) == '{"message": "hi", "n": 2}'
    assert rt.to_text(None) == ""
    assert rt.to_text(3.5) == "3.5"


def test_mermaid_labels_cannot_end_their_quotes() -> None:
    assert rt.mermaid_label('a "b" `c` %%{init}%%\nd') == "\"a 'b' 'c' ''{init}'' d\""
