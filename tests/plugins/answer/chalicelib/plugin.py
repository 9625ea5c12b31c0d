from __future__ import annotations

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint


class AnswerPlugin(Plugin):
    """``/answer?status=404&type=text/csv`` answers that status with that Content-Type (none when
    ``type`` is absent) and the request's own body; ``&header=Name:value`` adds a header."""

    @endpoint("POST", "/answer")
    def post(self, request: Request) -> Response:
        return self._answer(request)

    @endpoint("GET", "/answer")
    def get(self, request: Request) -> Response:
        return self._answer(request)

    @staticmethod
    def _answer(request: Request) -> Response:
        headers = {}
        if request.query.get("type"):
            headers["Content-Type"] = request.query.get("type")
        for pair in request.query.getlist("header"):
            name, _, value = pair.partition(":")
            headers[name] = value
        return Response(int(request.query.get("status") or 200), request.body, headers)
