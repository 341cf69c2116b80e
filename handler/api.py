"""`handler.api.create_app`, kept where scripts written against earlier versions import it from: the
app factory lives in the web wing (`handler.web.create_app`)."""

from handler.web import create_app

__all__ = ["create_app"]
