"""Griffe extension for the API reference (mkdocs.yml loads it).

The reference is read statically: signatures and types come from the Python
sources and the ``.pyi`` stubs of the compiled modules.  The stubs carry few
docstrings, while the compiled objects carry them all, so this extension
fills every missing docstring from the imported object of the same path
(``vmguestlib._vmguestlib.Handle.update`` and so on).  It needs the built
extension, as the docs build does anyway.

It also turns the reStructuredText habits of the docstrings into Markdown:
roles such as ``:class:`Handle``` become code spans, double backquotes
single ones, and a paragraph ending in ``::`` (an indented code block
follows) ends in ``:``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?([^`]+)`")
DOUBLE = re.compile(r"``([^`]+)``")
LITERAL = re.compile(r"::$", re.M)


def runtime_object(path: str) -> object | None:
    """The live object at a dotted path, or None."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = inspect.getattr_static(obj, name)
        except AttributeError:
            return None
        return obj  # type: ignore[no-any-return]
    return None


def markdown(text: str) -> str:
    text = ROLE.sub(r"`\1`", text)
    text = DOUBLE.sub(r"`\1`", text)
    return LITERAL.sub(":", text)


class RuntimeDocstrings(griffe.Extension):
    """Missing docstrings from the live objects; RST roles to Markdown."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if not obj.path.startswith("vmguestlib"):
            return
        if obj.docstring is None:
            live = runtime_object(obj.path)
            doc = getattr(live, "__doc__", None) if live is not None else None
            # A class's own docstring only, not one inherited from a base.
            # Nor the generic text of a slot inherited from object.
            generic = getattr(object, obj.name, None)
            if (isinstance(doc, str) and doc.strip()
                    and doc != getattr(type(live), "__doc__", None)
                    and doc != getattr(generic, "__doc__", None)):
                obj.docstring = griffe.Docstring(inspect.cleandoc(doc), parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
