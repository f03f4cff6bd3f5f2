"""What the five ACL object kinds' commands share: finding an object by a unique ID
prefix, reading, saving, listing and deleting it, and linking policies and roles, each
with Consul's texts.

A ``Kind`` holds only what differs between tokens, policies, roles, auth methods and
binding rules; the functions below are the one copy of what they do alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proconsul.api import APIError, ClientError
from proconsul.api.acl import ACL
from proconsul.cli.acl.common import (
    ANONYMOUS_ID,
    GLOBAL_MANAGEMENT_ID,
    Failure,
    Obj,
    acl_client,
    format_auth_method,
    format_binding_rule,
    format_policy,
    format_role,
    format_token,
    show,
    show_list,
)
from proconsul.cli.command import Context
from proconsul.cli.flags import FlagSet


@dataclass(frozen=True)
class Kind:
    """One kind of ACL object: its names in messages and the API calls that reach it."""

    noun: str                  # "binding rule": in "Error deleting binding rule ..."
    key: str                   # the field that identifies it: "ID", "AccessorID", "Name"
    list: Callable[..., tuple[list[Obj], Any]]
    read: Callable[..., tuple[Obj, Any]]
    delete: Callable[..., Any]
    create: Callable[..., tuple[Obj, Any]]
    update: Callable[..., tuple[Obj, Any]]
    pretty: Callable[[Obj, bool], str]  # its pretty formatter: (object, -meta)
    #: Consul's partial-ID errors name the kind shortly ("rule") and word a miss its way
    short: str = ""
    unknown_prefix: str = "No such {short} ID with prefix: {partial}"
    #: names that stand for a fixed ID (``anonymous``, ``global-management``)
    aliases: dict[str, str] = field(default_factory=dict)
    #: pretty list entries are separated by this (tokens: a blank line)
    separator: str = ""

    @property
    def title(self) -> str:
        return self.noun[:1].upper() + self.noun[1:]


TOKEN = Kind("token", "AccessorID", ACL.token_list, ACL.token_read, ACL.token_delete,
             ACL.token_create, ACL.token_update, format_token, short="token",
             aliases={"anonymous": ANONYMOUS_ID}, separator="\n")
POLICY = Kind("policy", "ID", ACL.policy_list, ACL.policy_read, ACL.policy_delete,
              ACL.policy_create, ACL.policy_update, format_policy, short="policy",
              aliases={"global-management": GLOBAL_MANAGEMENT_ID})
ROLE = Kind("role", "ID", ACL.role_list, ACL.role_read, ACL.role_delete, ACL.role_create,
            ACL.role_update, format_role, short="role")
AUTH_METHOD = Kind("auth method", "Name", ACL.auth_method_list, ACL.auth_method_read,
                   ACL.auth_method_delete, ACL.auth_method_create, ACL.auth_method_update,
                   format_auth_method)
BINDING_RULE = Kind("binding rule", "ID", ACL.binding_rule_list, ACL.binding_rule_read,
                    ACL.binding_rule_delete, ACL.binding_rule_create,
                    ACL.binding_rule_update, format_binding_rule, short="rule",
                    unknown_prefix="no such rule ID with prefix: {partial}: ACL not found")


def id_from_partial(acl: ACL, kind: Kind, partial: str) -> str:
    """Consul's Get<Kind>IDFromPartial: an alias, a whole UUID, or a unique prefix."""
    if partial in kind.aliases:
        return kind.aliases[partial]
    if len(partial) == 36:
        return partial
    found = [item[kind.key] for item in kind.list(acl)[0]
             if item.get(kind.key, "").startswith(partial)]
    if len(found) > 1:
        raise Failure(f"Partial {kind.short} ID is not unique")
    if not found:
        raise Failure(kind.unknown_prefix.format(short=kind.short, partial=partial))
    return found[0]


def resolve(ctx: Context, kind: Kind, partial: str) -> str:
    """The full ID ``partial`` names; a Failure worded as Consul's commands word it."""
    try:
        return id_from_partial(acl_client(ctx), kind, partial)
    except (ClientError, Failure) as err:
        raise Failure(f"Error determining {kind.noun} ID: {err}") from None


def read(ctx: Context, kind: Kind, ident: str, by: str = "ID", via=None,
         failed: str = "") -> Obj:
    """One object; a 404 is ``<Kind> not found with <by> "<ident>"``, another error
    ``Error reading <kind> "<ident>": ...`` or ``<failed>: ...`` (``via`` reads it
    another way, by name)."""
    fetch = via or kind.read
    try:
        return fetch(acl_client(ctx), ident, ctx.query_options())[0]
    except ClientError as err:
        if isinstance(err, APIError) and err.status == 404:
            raise Failure(f'{kind.title} not found with {by} "{ident}"') from None
        failed = failed or f'Error reading {kind.noun} "{ident}"'
        raise Failure(f"{failed}: {err}") from None


def save(ctx: Context, kind: Kind, obj: Obj, failed: str, *, new: bool) -> int:
    """Create (``new``) or update ``obj``; print what the servers stored, per -format."""
    write = kind.create if new else kind.update
    try:
        saved, _ = write(acl_client(ctx), obj)
    except ClientError as err:
        raise Failure(f"{failed}: {err}") from None
    return show(ctx, saved, lambda: kind.pretty(saved, ctx["meta"]))


def delete(ctx: Context, kind: Kind, ident: str) -> int:
    try:
        kind.delete(acl_client(ctx), ident)
    except ClientError as err:
        raise Failure(f'Error deleting {kind.noun} "{ident}": {err}') from None
    ctx.info(f'{kind.title} "{ident}" deleted successfully')
    return 0


def list_all(ctx: Context, kind: Kind, entry: Callable[[Obj], str], **filters: str) -> int:
    """``acl <kind> list``: a JSON array or the pretty entries."""
    try:
        items, _ = kind.list(acl_client(ctx), ctx.query_options(), **filters)
    except ClientError as err:
        raise Failure(f"Failed to retrieve the {kind.noun} list: {err}") from None
    return show_list(ctx, items, entry, kind.separator)


def meta_flag(fs: FlagSet, kind: Kind, what: str = "the content hash and raft indices") -> None:
    fs.boolean("meta", False, f"Indicates that {kind.noun} metadata such as {what} should "
               "be shown for each entry")


def id_flag(fs: FlagSet, kind: Kind, verb: str) -> None:
    fs.string("id", "", f"The ID of the {kind.noun} to {verb}. It may be specified as a "
              f"unique ID prefix but will error if the prefix matches multiple {kind.noun} "
              "IDs")


def id_or_name_flags(fs: FlagSet, kind: Kind, verb: str) -> None:
    id_flag(fs, kind, verb)
    fs.string("name", "", f"The name of the {kind.noun} to {verb}.")


def links(acl: ACL, kind: Kind, ids: list[str], names: list[str]) -> list[Obj]:
    """Policy or role links from ``-<kind>-name`` and ``-<kind>-id`` (prefixes resolved)."""
    found = [{"Name": name} for name in names]
    for partial in ids:
        try:
            found.append({"ID": id_from_partial(acl, kind, partial)})
        except (ClientError, Failure) as err:
            raise Failure(f"Error resolving {kind.noun} ID {partial}: {err}") from None
    return found


def merged_links(old: list[Obj], new: list[Obj]) -> list[Obj]:
    """``old`` plus those of ``new`` that name a policy or role not linked yet (by ID or
    by name)."""
    have = {value for link in old for value in (link.get("ID"), link.get("Name")) if value}
    return old + [link for link in new if (link.get("ID") or link.get("Name")) not in have]
