"""benchmarks/RESULTS.md is shared by every benchmark: each owns one marked section and rewrites only that.

A section may end with hand-written notes after `<!-- <name>:notes -->`; a re-run keeps them.
"""

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(name: str, heading: str, body: str, *, path: Path = RESULTS) -> None:
    begin, end, notes_marker = f"<!-- {name}:begin -->", f"<!-- {name}:end -->", f"<!-- {name}:notes -->"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.escape(begin) + "(.*?)" + re.escape(end)
    section = re.search(pattern, text, flags=re.S)
    notes = section.group(1).split(notes_marker, 1)[1].strip() if section and notes_marker in section.group(1) else ""
    block = f"{begin}\n{body}\n\n{notes_marker}\n{notes}\n{end}" if notes else f"{begin}\n{body}\n{end}"
    if section:
        text = re.sub(pattern, lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n{block}\n"
    path.write_text(text)
