"""Keep the statistics table of the docs in step with include/vgl_abi.h.

    python tools/readme_sync.py          # rewrite the table in docs/statistics.md
    python tools/readme_sync.py --check  # exit 1 if it is out of date

The table sits between <!-- stats:start --> and <!-- stats:end -->.  The
other pages are no longer copied anywhere: the README links to them, and the
documentation site shows them (see mkdocs.yml).
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


def blocks() -> dict[str, str]:
    return {"stats": table()}


def render(page: str) -> str:
    for name, body in blocks().items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = page.split(start, 1)
        _, tail = rest.split(end, 1)
        page = f"{head}{start}\n{body}\n{end}{tail}"
    return page


def main() -> int:
    path = ROOT / "docs" / "statistics.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        if new != old:
            print("docs/statistics.md is out of date with include/vgl_abi.h: run "
                  "python tools/readme_sync.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
