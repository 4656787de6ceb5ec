"""Pull requests on GitHub (or GitHub Enterprise) through its REST API: open one for a task branch, and post the
task's review on it as a real review with line comments.

The token comes from GITHUB_TOKEN or GH_TOKEN, the API base from GITHUB_API_URL (Enterprise bases end in
/api/v3), the same variables GitHub's own tools read. Every failure is a DeliveryError carrying the HTTP status
and GitHub's message; the token never appears in one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import httpx
from orch.core.delivery.gitops import DeliveryError
from orch.core.tasks.models import Review

DEFAULT_API = "https://api.github.com"
TIMEOUT_SECONDS = 30.0
# owner/repo at the end of any remote URL: https://host/owner/repo(.git), git@host:owner/repo.git, ssh://…
_REMOTE = re.compile(r"[:/](?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_EVENTS = {"approve": "APPROVE", "request_changes": "REQUEST_CHANGES"}


def owner_repo(remote: str) -> str | None:
    """`owner/repo` read from a remote URL, or None when the URL has no such tail."""
    match = _REMOTE.search(remote.strip())
    return f"{match['owner']}/{match['repo']}" if match else None


def token_from_env() -> str | None:
    return os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or None


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str


class GitHub:
    def __init__(self, token: str, api_base: str | None = None) -> None:
        self._client = httpx.AsyncClient(
            base_url=(api_base or os.environ.get("GITHUB_API_URL") or DEFAULT_API).rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "orch"},
            timeout=TIMEOUT_SECONDS,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def open_pull_request(self, repo: str, *, head: str, base: str, title: str, body: str) -> PullRequest:
        """Open a pull request of `head` into `base`; an open one for the same branch is reused."""
        response = await self._request("POST", f"repos/{repo}/pulls",
                                       {"title": title, "head": head, "base": base, "body": body}, ok=(201, 422))
        if response.status_code == 201:
            return _pull(response.json())
        owner = repo.split("/")[0]
        existing = await self._request("GET", f"repos/{repo}/pulls?head={owner}:{head}&state=open", None, ok=(200,))
        pulls = existing.json()
        if isinstance(pulls, list) and pulls:
            return _pull(pulls[0])
        raise DeliveryError(f"GitHub refused the pull request: {_describe(response)}")

    async def post_review(self, repo: str, number: int, review: Review) -> None:
        """The task's review as a review of the pull request, with its line comments.

        GitHub does not let anyone approve or request changes on their own pull request, which is the usual
        case for a bot's token: then the same review is posted as a comment.
        """
        payload: dict[str, Any] = {"event": _EVENTS.get(review.decision, "COMMENT"),
                                   "body": f"Review by {review.reviewer}: {review.decision}\n\n{review.notes}".strip()}
        comments = [{"path": c.path, "line": c.line, "body": c.body} for c in review.comments if c.line]
        if comments:
            payload["comments"] = comments
        response = await self._request("POST", f"repos/{repo}/pulls/{number}/reviews", payload, ok=(200, 422))
        if response.status_code == 422 and payload["event"] != "COMMENT":
            payload["event"] = "COMMENT"
            response = await self._request("POST", f"repos/{repo}/pulls/{number}/reviews", payload, ok=(200, 422))
        if response.status_code == 422 and "comments" in payload:
            # A line comment GitHub cannot place (outside the diff) must not lose the review itself.
            del payload["comments"]
            await self._request("POST", f"repos/{repo}/pulls/{number}/reviews", payload, ok=(200,))
        elif response.status_code == 422:
            raise DeliveryError(f"GitHub refused the review: {_describe(response)}")

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None, *,
                       ok: tuple[int, ...]) -> httpx.Response:
        try:
            response = await self._client.request(method, path, json=payload)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"GitHub API unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code not in ok:
            raise DeliveryError(f"GitHub API {method} /{path.split('?')[0]}: {_describe(response)}")
        return response


def _pull(data: Any) -> PullRequest:
    return PullRequest(int(data["number"]), str(data["html_url"]))


def _describe(response: httpx.Response) -> str:
    message = ""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = [str(e.get("message") or e.get("code")) if isinstance(e, dict) else str(e) for e in errors]
            message = f"{message} ({'; '.join(details)})" if message else "; ".join(details)
    return f"HTTP {response.status_code}" + (f": {message}" if message else "")
