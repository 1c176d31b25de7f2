"""Error pages in Japanese, as a page or (for htmx) as a fragment, with the right status."""
from flask import render_template
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ..throttle import Throttled
from . import htmx

MESSAGES = {
    400: "リクエストが正しくありません。ページを読み込み直してから、もう一度お試しください。",
    401: "ログインしてください。",
    403: "この操作を行う権限がありません。",
    404: "お探しのページは見つかりませんでした。",
    405: "この操作はできません。",
    409: "ほかの操作と重なりました。内容を確かめてください。",
    413: "送信された内容が大きすぎます。",
    431: "リクエストのヘッダーが大きすぎます。ブラウザーの Cookie を削除してから、もう一度お試しください。",
    422: "入力内容を確かめてください。",
    500: "サーバーで問題が起きました。時間をおいてもう一度お試しください。",
}


def _render(status, message=None):
    message = message or MESSAGES.get(status, MESSAGES[500])
    template = "errors/_error.html" if htmx.wants_fragment() else "errors/error.html"
    return render_template(template, status=status, message=message), status


def standalone_page(status):
    """A short Japanese page, whole in itself, for an answer given before the app sees the
    request (run.py: waitress refuses a body or headers too large, or a malformed request)."""
    message = escape(MESSAGES.get(status, MESSAGES[400]))
    return (f'<!doctype html><html lang="ja"><meta charset="utf-8"><title>エラー {status}</title>'
            f'<h1>{status}</h1><p>{message}</p></html>')


def init_app(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _render(400, "セキュリティトークンが無効です。"
                            "ページを読み込み直してから、もう一度送信してください。")

    @app.errorhandler(Throttled)
    def throttled(error):
        minutes = -(-error.retry_after // 60)
        body, status = _render(429, "ログインの失敗が続いたため、このネットワークからのログインを"
                                    f"一時的に止めています。{minutes}分ほど後にもう一度お試しください。")
        return body, status, {"Retry-After": str(error.retry_after)}

    @app.errorhandler(HTTPException)
    def http_error(error):
        """The status's message, or for a 422 the field's, given as abort(422, description=...)
        (werkzeug's own descriptions are English: never shown)."""
        own = error.code == 422 and error.description != type(error).description
        given = error.description if own else None
        return _render(error.code or 500, given)

    @app.errorhandler(Exception)
    def unexpected(error):
        app.logger.exception("unhandled error")
        return _render(500)
