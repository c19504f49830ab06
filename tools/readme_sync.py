"""Keep the README's generated blocks in step with their sources.

    python tools/readme_sync.py          # rewrite the blocks in README.md
    python tools/readme_sync.py --check  # exit 1 if README.md is out of date

Blocks (between <!-- NAME:start --> and <!-- NAME:end -->):
  stats       the statistics table, from include/vgl_abi.h;
  cli         docs/cli-and-exporters.md, as is;
  guarantees  docs/guarantees.md, its headings one level down.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROW = re.compile(r'X\((\w+), (\w+), (\d+), "(\w+)",\s*\\\s*\n\s*"([^"]+)"\)')


def table() -> str:
    header = (ROOT / "include" / "vgl_abi.h").read_text()
    lines = [
        "| method / Snapshot field | C entry point | unit | bits | what it is |",
        "|---|---|---|---|---|",
    ]
    for c_name, py_name, width, unit, doc in ROW.findall(header):
        lines.append(f"| `{py_name}` | `VMGuestLib_Get{c_name}` | {unit} | {width} | {doc} |")
    lines.append("| `session_id` | `VMGuestLib_GetSessionId` | id | 64 | "
                 "changes after vMotion, suspend/resume or snapshot revert |")
    lines.append("| `resource_pool_path()` | `VMGuestLib_GetResourcePoolPath` | text | — | "
                 "path of the resource pool this VM belongs to |")
    return "\n".join(lines)


def demote_headings(markdown: str) -> str:
    """Every heading one level down, outside fenced code blocks."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" + line if not fenced and re.match(r"#{1,5} ", line) else line)
    return "\n".join(out)


def blocks() -> dict[str, str]:
    docs = ROOT / "docs"
    return {
        "stats": table(),
        "cli": (docs / "cli-and-exporters.md").read_text().rstrip("\n"),
        "guarantees": demote_headings((docs / "guarantees.md").read_text()).rstrip("\n"),
    }


def render(readme: str) -> str:
    for name, body in blocks().items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = readme.split(start, 1)
        _, tail = rest.split(end, 1)
        readme = f"{head}{start}\n{body}\n{end}{tail}"
    return readme


def main() -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        if new != old:
            print("README.md is out of date with docs/ or include/: run "
                  "python tools/readme_sync.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
