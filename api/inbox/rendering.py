"""HTML for the inbox: the jinja2 environment (autoescaped), its filters, and the headers every page carries."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from signoff.api.display import neutralised, render_arguments

__all__ = ["PAGE_HEADERS", "pretty_json", "render", "templates"]

_TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

# No scripts at all, styles only inline, forms only to this site, and never inside a frame: an
# approve button must not be clickable through someone else's page.
PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages carry CSRF tokens and the queue's contents: nothing to keep in caches.
    "Cache-Control": "no-store",
}


def pretty_json(value: Any) -> str:
    """Indented JSON for people; a JSON text is parsed first, so stored arguments read the same as live ones."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


# A marker of api/display.py: input text can hold no bracket of its own (the display escapes them).
_MARKER = re.compile(r"⟦[^⟦⟧]*⟧")


def _marked(text: str) -> Markup:
    """Displayed text (api/display.py), escaped, each marker highlighted so that it cannot be missed."""
    escaped = str(escape(text))
    return Markup(_MARKER.sub(lambda match: f'<mark class="hidden-char">{match.group()}</mark>', escaped))


def _shown(text: str | None) -> Markup:
    """Any outside text (a policy reason quoting arguments, a note, a task) neutralised and marked."""
    return _marked(neutralised(text or ""))


def _shown_arguments(arguments_json: str) -> Markup:
    """Stored arguments (a JSON text) as the display renders them: neutralised, long lists counted."""
    return _marked(render_arguments(json.loads(arguments_json)))


def _when(value: datetime | str | None) -> str:
    """A time in UTC to the second, the way the CLI prints it."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES_DIR),
        autoescape=True,  # every template is HTML; task text and arguments come from outside
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["pretty_json"] = pretty_json
    environment.filters["marked"] = _marked
    environment.filters["shown"] = _shown
    environment.filters["shown_arguments"] = _shown_arguments
    environment.filters["when"] = _when
    environment.filters["iso"] = _iso
    return environment


templates = Jinja2Templates(env=_environment())


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """Render `inbox/<template>` with `context`."""
    return templates.TemplateResponse(request, f"inbox/{template}", context, status_code=status_code)
