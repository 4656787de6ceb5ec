"""A fake Discord: the REST API and the gateway websocket, on 127.0.0.1 in the test's own event loop.

Enough of Discord for the real discord.py: login, command sync, the gateway (HELLO, IDENTIFY -> READY,
heartbeat ACK, RESUME -> RESUMED; 4014 to a privileged intent it is told to refuse), interactions injected by
the test — slash commands, button presses, modal submissions — with their callbacks (a message, a deferral, a
modal) and followups, people's messages (MESSAGE_CREATE, as replies or not), channel messages (with file
attachments, sent as multipart, and button components), threads from messages, and 429 answers on demand. It
records every request and every message (id -> current content, attachments and buttons, per channel) for the
test to assert on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.typedefs import Handler

from tests.fakes.outage import Outage

# The shape of a real token (three dot-separated parts), so a leak in logs would look like one.
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.fake-bot-token.do-not-log-me"
APP_ID = "900000000000000001"
BOT_USER = {"id": APP_ID, "username": "orch", "discriminator": "0", "global_name": "orch", "avatar": None,
            "bot": True}
GUILD_ID = "910000000000000001"
EPHEMERAL = 64
_BODY: web.RequestKey[Any] = web.RequestKey("body", object)
_FILES: web.RequestKey[Any] = web.RequestKey("files", object)
# Interaction callback types (Discord's numbers).
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
MODAL = 9
# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
MODAL_SUBMIT = 5
MESSAGE_CONTENT_INTENT = 1 << 15


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes


@dataclass
class FakeMessage:
    id: str
    channel_id: str
    content: str
    flags: int = 0
    versions: list[str] = field(default_factory=list)  # every content it had, the current one last
    attachments: tuple[Attachment, ...] = ()
    components: list[dict[str, Any]] = field(default_factory=list)  # action rows, as sent
    allowed_mentions: dict[str, Any] | None = None  # as sent with it

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def buttons(self) -> dict[str, str]:
        """Label -> custom_id of each button under it."""
        return {button["label"]: button["custom_id"] for row in self.components for button in row["components"]
                if button.get("type") == 2}


@dataclass
class _Interaction:
    id: str
    token: str
    channel_id: str
    original_id: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any  # of a multipart request: its payload_json
    files: tuple[Attachment, ...] = ()


def _user(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": f"user{user_id[-4:]}", "discriminator": "0", "global_name": None,
            "avatar": None}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())


class FakeDiscord:
    def __init__(self, token: str) -> None:
        self._token = token
        self._ids = itertools.count(920000000000000001)
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ws: web.WebSocketResponse | None = None
        self._interactions: dict[str, _Interaction] = {}
        self._failures: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self.outage = Outage()  # while active, every REST request meets a 500, a timeout or a reset (outage.py)
        self._changed = asyncio.Event()
        self.requests: list[Request] = []
        self.messages: dict[str, FakeMessage] = {}
        self.threads: dict[str, str] = {}  # thread id -> the message it was started from
        self.synced: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None: global) -> commands
        self.callbacks: list[dict[str, Any]] = []  # every interaction callback body, in order
        self.gateway_paths: list[str] = []  # path of every websocket connection
        self.identifies = 0
        self.resumes = 0
        self.threads_allowed = True
        self.message_content_allowed = True  # False: IDENTIFY asking for it is closed with 4014, as Discord does
        self.intents: list[int] = []  # of each IDENTIFY
        self.modals: list[dict[str, Any]] = []  # every modal an interaction was answered with

    # server
    async def start(self, port: int = 0) -> None:
        """Listen on `port` (0: any free one; a given one: a service that comes up where orch already looks)."""
        app = web.Application(middlewares=[self._record])
        api = "/api/v10"
        app.router.add_get(f"{api}/gateway/bot", self._gateway_bot)
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._edit_original)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._create_message)
        app.router.add_patch(f"{api}/channels/{{channel}}/messages/{{message}}", self._edit_message)
        app.router.add_post(f"{api}/channels/{{channel}}/messages/{{message}}/threads", self._start_thread)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway-announced", self._gateway)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def announced_gateway_url(self) -> str:
        """What GET gateway/bot answers: a different path, so a test sees which one the client used."""
        return f"ws://127.0.0.1:{self._port}/gateway-announced"

    # what the test does
    def fail_next(self, method: str, path_suffix: str, *, status: int = 429, retry_after: float = 0.05,
                  times: int = 1) -> None:
        """Answer the next `times` requests whose path ends with `path_suffix` with `status`."""
        self._failures.setdefault((method, path_suffix), []).extend([(status, retry_after)] * times)

    async def invoke_slash(self, user_id: int | str, channel_id: int | str, *path: str,
                           options: dict[str, Any] | None = None, guild_id: str | None = GUILD_ID) -> str:
        """Dispatch INTERACTION_CREATE for `/path... options`; returns the interaction id."""
        option_list = [_option(name, value) for name, value in (options or {}).items()]
        for name in reversed(path[1:]):
            option_list = [{"name": name, "type": 1, "options": option_list}]
        data = {"id": self._id(), "name": path[0], "type": 1, "options": option_list}
        return await self._interact(APPLICATION_COMMAND, user_id, channel_id, data, guild_id)

    async def press(self, user_id: int | str, message_id: str, label: str, *, guild_id: str | None = GUILD_ID) -> str:
        """A person presses the button labelled `label` under a message; returns the interaction id."""
        message = self.messages[message_id]
        data = {"custom_id": message.buttons()[label], "component_type": 2}
        return await self._interact(MESSAGE_COMPONENT, user_id, message.channel_id, data, guild_id,
                                    message=self._message_payload(message))

    async def submit_modal(self, user_id: int | str, channel_id: str, modal: dict[str, Any], text: str, *,
                           guild_id: str | None = GUILD_ID) -> str:
        """A person types `text` into the (one) text input of `modal` and submits it; returns the interaction id."""
        [row] = modal["components"]
        [field_] = row["components"]
        data = {"custom_id": modal["custom_id"], "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": field_["custom_id"], "value": text}]}]}
        return await self._interact(MODAL_SUBMIT, user_id, channel_id, data, guild_id)

    async def post(self, user_id: int | str, channel_id: str, content: str, *, reply_to: str | None = None,
                   guild_id: str | None = GUILD_ID) -> str:
        """A person writes `content` in a channel or thread (as a reply to message `reply_to`): MESSAGE_CREATE.
        Returns the message id (people's messages are not kept in `messages`)."""
        message_id = self._id()
        payload: dict[str, Any] = {
            "id": message_id, "channel_id": channel_id, "type": 19 if reply_to else 0, "content": content,
            "author": _user(str(user_id)), "timestamp": _now(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "embeds": [], "attachments": [],
            "pinned": False, "flags": 0, "components": [],
        }
        if guild_id is not None:
            payload["guild_id"] = guild_id
            payload["member"] = {"roles": [], "joined_at": _now(), "deaf": False, "mute": False, "flags": 0}
        if reply_to is not None:
            payload["message_reference"] = {"type": 0, "message_id": reply_to, "channel_id": channel_id,
                                            **({"guild_id": guild_id} if guild_id else {})}
        await self._dispatch("MESSAGE_CREATE", payload)
        return message_id

    async def _interact(self, kind: int, user_id: int | str, channel_id: int | str, data: dict[str, Any],
                        guild_id: str | None, message: dict[str, Any] | None = None) -> str:
        interaction = _Interaction(id=self._id(), token=f"itoken-{len(self._interactions)}",
                                   channel_id=str(channel_id))
        self._interactions[interaction.token] = interaction
        payload: dict[str, Any] = {
            "id": interaction.id, "application_id": APP_ID, "type": kind, "token": interaction.token, "version": 1,
            "channel_id": interaction.channel_id, "locale": "en-US", "attachment_size_limit": 8388608,
            "app_permissions": "2248473465835073", "entitlements": [], "authorizing_integration_owners": {},
            "data": data,
        }
        if message is not None:
            payload["message"] = message
        if guild_id is not None:
            payload["guild_id"] = guild_id
            payload["guild_locale"] = "en-US"
            payload["context"] = 0
            payload["channel"] = {"id": interaction.channel_id, "type": 0, "guild_id": guild_id, "name": "general",
                                  "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None}
            payload["member"] = {"user": _user(str(user_id)), "roles": [], "joined_at": _now(), "deaf": False,
                                 "mute": False, "flags": 0, "permissions": "2248473465835073"}
        else:
            payload["context"] = 1
            payload["channel"] = {"id": interaction.channel_id, "type": 1, "recipients": [_user(str(user_id))]}
            payload["user"] = _user(str(user_id))
        await self._dispatch("INTERACTION_CREATE", payload)
        return interaction.id

    async def drop_gateway(self) -> None:
        """Close the websocket as a network failure would; the client should come back and RESUME."""
        if self._ws is not None:
            await self._ws.close(code=4000, message=b"dropped by the test")

    async def wait_for(self, condition: Callable[[], Any], seconds: float = 10.0) -> Any:
        """Wait until `condition()` is truthy (checked after every request and gateway event); returns it."""
        async def poll() -> Any:
            while True:
                self._changed.clear()
                value = condition()
                if value:
                    return value
                await self._changed.wait()

        return await asyncio.wait_for(poll(), seconds)

    def channel_messages(self, channel_id: str, *, ephemeral: bool = False) -> list[FakeMessage]:
        return [m for m in self.messages.values() if m.channel_id == channel_id and m.ephemeral == ephemeral]

    def channel_contents(self, channel_id: str) -> dict[str, str]:
        """Message id -> current content, for every message in the channel (ephemeral ones included)."""
        return {m.id: m.content for m in self.messages.values() if m.channel_id == channel_id}

    def original_message(self, interaction_id: str) -> FakeMessage | None:
        """The message an interaction's callback made (its answer), as it reads now."""
        for interaction in self._interactions.values():
            if interaction.id == interaction_id and interaction.original_id is not None:
                return self.messages[interaction.original_id]
        return None

    def callbacks_for(self, interaction_id: str) -> list[dict[str, Any]]:
        return [body for body in self.callbacks if body["interaction_id"] == interaction_id]

    # helpers
    def _id(self) -> str:
        return str(next(self._ids))

    def _notify(self) -> None:
        self._changed.set()

    def _message_payload(self, message: FakeMessage) -> dict[str, Any]:
        return {"id": message.id, "channel_id": message.channel_id, "type": 0, "content": message.content,
                "author": BOT_USER, "timestamp": _now(), "edited_timestamp": None, "tts": False,
                "mention_everyone": False, "mentions": [], "mention_roles": [], "embeds": [],
                "attachments": [{"id": f"{message.id}{n}", "filename": attachment.filename,
                                 "size": len(attachment.content), "url": f"{self.api_base}/files/{attachment.filename}",
                                 "proxy_url": f"{self.api_base}/files/{attachment.filename}"}
                                for n, attachment in enumerate(message.attachments)],
                "pinned": False, "flags": message.flags, "components": message.components}

    def _new_message(self, channel_id: str, body: dict[str, Any],
                     attachments: tuple[Attachment, ...] = ()) -> FakeMessage:
        content = body.get("content") or ""
        message = FakeMessage(self._id(), channel_id, content, int(body.get("flags") or 0), [content], attachments,
                              list(body.get("components") or []), body.get("allowed_mentions"))
        self.messages[message.id] = message
        return message

    def _edit(self, message: FakeMessage, body: dict[str, Any]) -> dict[str, Any]:
        if "content" in body:
            message.content = body["content"] or ""
            message.versions.append(message.content)
        if "components" in body:
            message.components = list(body["components"] or [])
        return self._message_payload(message)

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # discord.py reads a body as JSON only with exactly this content type (no charset).
        return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body: Any = None
        files: tuple[Attachment, ...] = ()
        if request.content_type == "multipart/form-data":
            form = await request.post()
            body = json.loads(str(form["payload_json"]))
            files = tuple(Attachment(part.filename, part.file.read()) for part in form.values()
                          if isinstance(part, web.FileField))
        elif request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw and request.content_type == "application/json" else raw.decode()
        self.requests.append(Request(request.method, request.path, dict(request.query), body, files))
        if request.path != "/gateway" and not request.path.startswith("/gateway-"):
            down = await self.outage.meet(request, lambda status: self._json(
                {"message": "500: Internal Server Error", "code": 0}, status))
            if down is not None:
                self._notify()
                return down
        try:
            for (method, suffix), queue in self._failures.items():
                if queue and request.method == method and request.path.endswith(suffix):
                    status, retry_after = queue.pop(0)
                    # discord.py takes a 429 without a Via header for a Cloudflare ban.
                    return web.Response(status=status, headers={"Content-Type": "application/json", "Via": "1.1 google",
                                                                "Retry-After": str(retry_after)},
                                        body=json.dumps({"message": "You are being rate limited.",
                                                         "retry_after": retry_after, "global": False}).encode())
            request[_BODY] = body
            request[_FILES] = files
            return await handler(request)
        finally:
            self._notify()

    # REST
    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return self._json({"url": self.announced_gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})

    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self._token}":
            return self._json({"message": "401: Unauthorized", "code": 0}, 401)
        return self._json(BOT_USER)

    async def _application(self, request: web.Request) -> web.Response:
        return self._json({"id": APP_ID, "name": "orch", "description": "", "icon": None, "bot_public": False,
                           "bot_require_code_grant": False, "owner": _user("930000000000000001"),
                           "verify_key": "00", "flags": 0, "team": None, "summary": ""})

    async def _sync(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        commands = request[_BODY]
        self.synced[guild] = commands
        answer = [{**command, "id": self._id(), "application_id": APP_ID, "version": "1",
                   **({"guild_id": guild} if guild else {})} for command in commands]
        return self._json(answer)

    async def _callback(self, request: web.Request) -> web.Response:
        body = request[_BODY]
        interaction = next(i for i in self._interactions.values() if i.id == request.match_info["id"])
        self.callbacks.append({"interaction_id": interaction.id, **body})
        kind = body["type"]
        data = body.get("data") or {}
        if kind == MODAL:
            self.modals.append(data)
            return self._json({"interaction": {"id": interaction.id, "type": 3}, "resource": {"type": kind}})
        message = self._new_message(interaction.channel_id, data)
        interaction.original_id = message.id
        return self._json({
            "interaction": {"id": interaction.id, "type": 2, "response_message_id": message.id,
                            "response_message_loading": kind == DEFERRED_CHANNEL_MESSAGE,
                            "response_message_ephemeral": message.ephemeral},
            "resource": {"type": kind, "message": self._message_payload(message)},
        })

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._interactions[request.match_info["token"]]
        if interaction.original_id is None:
            return self._json({"message": "Unknown Message", "code": 10008}, 404)
        return self._json(self._edit(self.messages[interaction.original_id], request[_BODY]))

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._interactions[request.match_info["token"]]
        return self._json(self._message_payload(self._new_message(interaction.channel_id, request[_BODY],
                                                                  request[_FILES])))

    async def _create_message(self, request: web.Request) -> web.Response:
        message = self._new_message(request.match_info["channel"], request[_BODY], request[_FILES])
        return self._json(self._message_payload(message))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self.messages.get(request.match_info["message"])
        if message is None or message.channel_id != request.match_info["channel"]:
            return self._json({"message": "Unknown Message", "code": 10008}, 404)
        return self._json(self._edit(message, request[_BODY]))

    async def _start_thread(self, request: web.Request) -> web.Response:
        if not self.threads_allowed:
            return self._json({"message": "Cannot execute action on this channel type", "code": 50024}, 400)
        thread_id = self._id()
        self.threads[thread_id] = request.match_info["message"]
        return self._json({
            "id": thread_id, "type": 11, "guild_id": GUILD_ID, "parent_id": request.match_info["channel"],
            "owner_id": APP_ID, "name": request[_BODY]["name"], "message_count": 0, "member_count": 1,
            "rate_limit_per_user": 0, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": request[_BODY]["auto_archive_duration"],
                                "archive_timestamp": _now(), "locked": False},
        })

    # gateway
    async def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        if self._ws is None:
            raise RuntimeError("no gateway connection")
        self._seq += 1
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.gateway_paths.append(request.path)
        # Plain text frames: discord.py accepts them although it asks for zlib-stream.
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        self._notify()
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            op = message["op"]
            if op == 1:
                await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            elif op == 2:
                intents = int(message["d"].get("intents", 0))
                self.intents.append(intents)
                if intents & MESSAGE_CONTENT_INTENT and not self.message_content_allowed:
                    await ws.close(code=4014, message=b"Disallowed intent(s).")
                    break
                self.identifies += 1
                await self._dispatch("READY", {
                    "v": 10, "user": BOT_USER, "guilds": [], "session_id": f"session-{self.identifies}",
                    "resume_gateway_url": self.gateway_url, "application": {"id": APP_ID, "flags": 0},
                    "private_channels": [], "relationships": [], "presences": [], "shard": [0, 1],
                })
            elif op == 6:
                self.resumes += 1
                await self._dispatch("RESUMED", {})
            self._notify()
        if self._ws is ws:
            self._ws = None
        self._notify()
        return ws


def decoded(message: FakeMessage) -> str:
    """What a person reads: without the code fence, the zero-width spaces and the markdown escapes."""
    content = message.content
    if content.startswith("```\n") and content.endswith("\n```"):
        return content[4:-4].replace("\u200b", "")
    return re.sub(r"\\([\\*_~|`>#\[\]()-])", r"\1", content)


def _option(name: str, value: Any) -> dict[str, Any]:
    kind = 4 if isinstance(value, int) and not isinstance(value, bool) else 3  # INTEGER or STRING
    return {"name": name, "type": kind, "value": value}
