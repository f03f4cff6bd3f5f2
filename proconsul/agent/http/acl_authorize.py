"""POST /v1/internal/acl/authorize: may the request's token do each of these things?

Consul's self-check: a list of ``{Resource, Segment, Access}`` comes back with
``Allow`` set, decided exactly as the endpoints decide. Beyond Consul, ``?explain``
adds ``Reason``: the rule (policy, resource, name) or the default that decided.
"""

from __future__ import annotations

from proconsul.agent.http.decode import decode_json
from proconsul.agent.http.params import flag, token
from proconsul.agent.http.reply import json_reply
from proconsul.lib import httpserver as web
from proconsul.lib.acl.authorizer import ALLOW, CHECKS, check_for
from proconsul.structs.base import Record
from proconsul.structs.errors import ERR_ACL_DISABLED, BadRequest, Unauthorized

MAX_REQUESTS = 64


class AuthorizationRequest(Record):
    """One question (Consul's ACLAuthorizationRequest)."""

    Resource: str = ""
    Segment: str = ""
    Access: str = ""


def _explain(authorizer, check: str, args: tuple[str, ...]) -> str:
    explain = getattr(authorizer, "explain", None)
    return str(explain(check, *args)) if explain is not None else f"decided by {authorizer}"


async def authorize(request: web.Request) -> web.Response:
    agent = request.app["agent"]
    if not agent.config.acl.enabled:
        raise Unauthorized(ERR_ACL_DISABLED)
    questions = decode_json(await request.read() or b"[]", list[AuthorizationRequest],
                            "Failed to decode request body")
    if len(questions) > MAX_REQUESTS:
        raise BadRequest(f"Refusing to process more than {MAX_REQUESTS} authorizations at once")
    authorizer = (await agent.acl.resolve(token(request))).authorizer
    explain = flag(request.query, "explain")
    answers = []
    for q in questions:
        try:
            check = check_for(q.Resource, q.Access)
        except ValueError as err:
            raise BadRequest(str(err)) from None
        args = (q.Segment,) if CHECKS[check].named else ()
        answer = {"Resource": q.Resource, **({"Segment": q.Segment} if q.Segment else {}),
                  "Access": q.Access, "Allow": getattr(authorizer, check)(*args) is ALLOW}
        if explain:
            answer["Reason"] = _explain(authorizer, check, args)
        answers.append(answer)
    return json_reply(request, answers)


def add_routes(router: web.Router) -> None:
    router.add_post("/v1/internal/acl/authorize", authorize)
