"""The HTTP benchmark's section of BENCHMARKS.md, between two markers, so that `make bench`
(which writes the rest of the file) and `make bench-http` each rewrite only their own part."""

START = "<!-- bench-http -->"
END = "<!-- /bench-http -->"


def extract(text: str) -> str | None:
    """The section, markers included, or None when the text has none."""
    start = text.find(START)
    end = text.find(END, start)
    if start < 0 or end < 0:
        return None
    return text[start : end + len(END)]


def replace(text: str, body: str) -> str:
    """`text` with the section's content replaced by `body` (appended when it has none)."""
    section = f"{START}\n{body.strip()}\n{END}"
    old = extract(text)
    if old is None:
        return (text.rstrip() + "\n\n" if text.strip() else "") + section + "\n"
    return text.replace(old, section, 1)
