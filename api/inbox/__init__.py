"""The approval inbox: server-rendered pages where approvers sign in with their key and decide calls.

`routes` has the pages, `session` the signed session cookie and CSRF tokens, `queries` what the pages
read, and `rendering` the jinja2 environment. Templates live in api/templates/inbox/.
"""

from signoff.api.inbox.routes import router

__all__ = ["router"]
