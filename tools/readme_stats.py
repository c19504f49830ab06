"""Write the README's statistics table from include/vgl_abi.h.

    python tools/readme_stats.py          # rewrite the block in README.md
    python tools/readme_stats.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- stats:start -->", "<!-- stats:end -->"
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


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        if new != old:
            print("README.md statistics table is out of date: run "
                  "python tools/readme_stats.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
