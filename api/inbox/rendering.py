"""HTML for the inbox: the jinja2 environment (autoescaped), its filters, and the headers every page carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import Response

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
    environment.filters["when"] = _when
    environment.filters["iso"] = _iso
    return environment


templates = Jinja2Templates(env=_environment())


def render(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """Render `inbox/<template>` with `context`."""
    return templates.TemplateResponse(request, f"inbox/{template}", context, status_code=status_code)
