"""A fake GitHub REST API for tests: orch's pull-request delivery talks to it through GITHUB_API_URL.

It answers `POST /repos/O/R/pulls` (201 with number and html_url; 422 "A pull request already exists" for a
second one of the same head), `GET /repos/O/R/pulls?head=O:BRANCH` and `POST /repos/O/R/pulls/N/reviews`, checks
the bearer token, records every request, and can be told to fail the next requests with a status and message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

GITHUB_TOKEN = "ghp_FakeTokenForTests0123456789abcdefABCD"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    authorization: str | None


@dataclass
class FakeGitHub:
    token: str = GITHUB_TOKEN
    requests: list[Received] = field(default_factory=list)
    pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "owner/repo" -> pulls
    reviews: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (status, message) for the next requests
    refuse_own_approval: bool = False  # answer 422 to APPROVE/REQUEST_CHANGES, as GitHub does for one's own PR
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/repos/{owner}/{repo}/pulls", self._pulls)
        app.router.add_post("/repos/{owner}/{repo}/pulls/{number}/reviews", self._reviews)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _record(self, request: web.Request) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        self.requests.append(Received(request.method, request.path, dict(request.query), body,
                                      request.headers.get("Authorization")))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(401, {"message": "Bad credentials"})
        if self.failures:
            status, message = self.failures.pop(0)
            return _json(status, {"message": message})
        return None

    async def _pulls(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        repo = f"{request.match_info['owner']}/{request.match_info['repo']}"
        pulls = self.pulls.setdefault(repo, [])
        if request.method == "GET":
            head = request.query.get("head", "").partition(":")[2]
            return _json(200, [pull for pull in pulls if pull["head"]["ref"] == head])
        body = self.requests[-1].body or {}
        if any(pull["head"]["ref"] == body.get("head") for pull in pulls):
            return _json(422, {"message": "Validation Failed", "errors": [
                {"resource": "PullRequest", "code": "custom",
                 "message": f"A pull request already exists for {repo.split('/')[0]}:{body.get('head')}."}]})
        number = len(pulls) + 1
        pull = {"number": number, "html_url": f"https://github.com/{repo}/pull/{number}", "title": body.get("title"),
                "body": body.get("body"), "head": {"ref": body.get("head")}, "base": {"ref": body.get("base")}}
        pulls.append(pull)
        return _json(201, pull)

    async def _reviews(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        body = self.requests[-1].body or {}
        if self.refuse_own_approval and body.get("event") in ("APPROVE", "REQUEST_CHANGES"):
            return _json(422, {"message": "Unprocessable Entity", "errors": [
                "Can not approve your own pull request"]})
        key = (f"{request.match_info['owner']}/{request.match_info['repo']}", int(request.match_info["number"]))
        self.reviews.setdefault(key, []).append(body)
        return _json(200, {"id": len(self.reviews[key]), **body})


def _json(status: int, data: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")
