"""Check that the built API reference shows the compiled objects' docstrings.

    mkdocs build --strict --site-dir SITE && python tools/check_docs_site.py SITE

The reference is read from the stubs, which carry few docstrings; the rest
comes from the compiled extension (tools/griffe_runtime_docs.py).  If that
ever stops working the build still succeeds, with empty entries, so this
looks for the first line of each of these objects' docstrings in the page.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

import vmguestlib

OBJECTS = {
    "Handle": vmguestlib.Handle,
    "Handle.update": vmguestlib.Handle.update,
    "Handle.snapshot": vmguestlib.Handle.snapshot,
    "Snapshot": vmguestlib.Snapshot,
    "VMGuestLibError": vmguestlib.VMGuestLibError,
    "LibraryNotFoundError": vmguestlib.LibraryNotFoundError,
    "NotRunningInVMError": vmguestlib.NotRunningInVMError,
}


def words(text: str) -> str:
    return " ".join(re.findall(r"[A-Za-z0-9_]+", text))


def main() -> int:
    page = Path(sys.argv[1]) / "api" / "index.html"
    source = page.read_text(encoding="utf-8")
    text = words(html.unescape(re.sub(r"<[^>]+>", " ", source)))
    missing = []
    for name, obj in OBJECTS.items():
        doc = (obj.__doc__ or "").strip()
        first = words(doc.splitlines()[0]) if doc else ""
        if not first or f'id="vmguestlib.{name}"' not in source or first not in text:
            missing.append(f"{name}: {first!r}")
    if missing:
        print(f"{page}: no docstring shown for\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print(f"{page}: the docstrings of {len(OBJECTS)} objects are shown")
    return 0


if __name__ == "__main__":
    sys.exit(main())
