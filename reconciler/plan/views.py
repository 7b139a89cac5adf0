"""One renderer per --format, each a whole document for stdout (Terraform's views: one value, several renderers).

Above render (text, markdown, JSON) and html (the picture, which uses render's words): neither imports the other's caller.
"""

from __future__ import annotations

from typing import Callable

from reconciler.plan.html import render_html
from reconciler.plan.model import Plan
from reconciler.plan.render import render_json, render_markdown, render_text


def _text_document(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    return render_text(plan, color=color, show_kept=show_kept) + "\n"


def _html_document(plan: Plan, *, color: bool = False, show_kept: bool = False) -> str:
    return render_html(plan)


RENDERERS: dict[str, Callable[..., str]] = {"text": _text_document, "json": render_json, "markdown": render_markdown, "html": _html_document}
#: The formats that show warnings and errors in place; for the others they also go to stderr.
SHOWS_PROBLEMS = {"text"}
