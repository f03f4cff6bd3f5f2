"""What the ACL commands share: the client, data sources, partial IDs, identity flags and
the pretty/JSON formatters Consul's ``command/acl`` prints."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

from proconsul.api import ClientError
from proconsul.api.acl import ACL
from proconsul.cli.command import Command, Context
from proconsul.cli.flags import FlagSet

Obj = dict[str, Any]
ANONYMOUS_ID = "00000000-0000-0000-0000-000000000002"
GLOBAL_MANAGEMENT_ID = "00000000-0000-0000-0000-000000000001"
FORMATS = ("pretty", "json")


class Failure(Exception):
    """A command ends with this one-line message on stderr and exit status 1."""


def acl_command(usage: str, synopsis: str, run: Callable[[Context], int | None],
                flags: Callable[[FlagSet], None] = lambda fs: None,
                formatted: bool = True) -> Command:
    """A Command whose ``run`` may raise Failure; ``-format`` checked before anything runs."""
    def setup(fs: FlagSet) -> None:
        if formatted:
            fs.string("format", "pretty", "Output format {pretty|json}")
        flags(fs)

    def guarded(ctx: Context) -> int:
        if formatted and ctx["format"] not in FORMATS:
            ctx.error(f"Unknown format: {ctx['format']}")
            return 1
        try:
            return run(ctx) or 0
        except Failure as err:
            ctx.error(str(err))
            return 1
    return Command(usage, synopsis, guarded, setup)


def acl_client(ctx: Context) -> ACL:
    try:
        return ctx.client().acl()
    except ClientError as err:
        raise Failure(f"Error connecting to Consul agent: {err}") from None


def load_data(arg: str) -> str:
    """Consul's helpers.LoadDataSource: ``@file``, ``-`` for stdin, else the text itself."""
    if arg.startswith("@"):
        try:
            with open(arg[1:], encoding="utf-8") as f:
                return f.read()
        except OSError as err:
            raise Failure(f"Failed to read file: {err}") from None
    if arg == "-":
        return sys.stdin.read()
    return arg


def _from_partial(items: list[Obj], key: str, partial: str, kind: str) -> str:
    found = [item[key] for item in items if item.get(key, "").startswith(partial)]
    if not found:
        raise Failure(f"No such {kind} ID with prefix: {partial}")
    if len(found) > 1:
        raise Failure(f"Partial {kind} ID is not unique")
    return found[0]


def token_id(acl: ACL, partial: str) -> str:
    """Consul's GetTokenAccessorIDFromPartial: a full ID, ``anonymous`` or a unique prefix."""
    if partial == "anonymous":
        return ANONYMOUS_ID
    if len(partial) == 36:
        return partial
    return _from_partial(acl.token_list()[0], "AccessorID", partial, "token")


def policy_id(acl: ACL, partial: str) -> str:
    if partial == "global-management":
        return GLOBAL_MANAGEMENT_ID
    if len(partial) == 36:
        return partial
    return _from_partial(acl.policy_list()[0], "ID", partial, "policy")


def role_id(acl: ACL, partial: str) -> str:
    if len(partial) == 36:
        return partial
    return _from_partial(acl.role_list()[0], "ID", partial, "role")


def service_identities(items: list[str]) -> list[Obj]:
    """``NAME`` or ``NAME:DC1,DC2`` as ACLServiceIdentity objects."""
    out = []
    for item in items:
        name, _, dcs = item.partition(":")
        if not name:
            raise Failure(f'Service identity "{item}" must specify a name')
        ident: Obj = {"ServiceName": name}
        if dcs:
            ident["Datacenters"] = [dc for dc in dcs.split(",") if dc]
        out.append(ident)
    return out


def node_identities(items: list[str]) -> list[Obj]:
    """``NODE:DC`` as ACLNodeIdentity objects."""
    out = []
    for item in items:
        name, sep, dc = item.partition(":")
        if not sep or not name or not dc:
            raise Failure(f'Malformed -node-identity argument: "{item}"')
        out.append({"NodeName": name, "Datacenter": dc})
    return out


def templated_policies(names: list[str], variables: list[str]) -> list[Obj]:
    """``-templated-policy NAME`` with ``-var key:value`` (Consul takes ``name`` only)."""
    if not names:
        return []
    values: Obj = {}
    for var in variables:
        key, sep, value = var.partition(":")
        if not sep:
            raise Failure(f'Malformed -var argument: "{var}", expecting VariableName:Value')
        values[key[:1].upper() + key[1:]] = value  # api.ACLTemplatedPolicyVariables
    return [{"TemplateName": name, **({"TemplateVariables": values} if values else {})}
            for name in names]


def identity_flags(fs: FlagSet) -> None:
    """The link flags token create/update and role create/update share."""
    fs.strings("policy-id", "ID of a policy to use for this token. May be specified "
               "multiple times")
    fs.strings("policy-name", "Name of a policy to use for this token. May be specified "
               "multiple times")
    fs.strings("service-identity", "Name of a service identity to use for this token. May "
               "be specified multiple times. Format is the SERVICENAME or "
               "SERVICENAME:DATACENTER1,DATACENTER2,...")
    fs.strings("node-identity", "Name of a node identity to use for this token. May be "
               "specified multiple times. Format is NODENAME:DATACENTER")
    fs.strings("templated-policy", "Templated policy name. Use -var flag to specify "
               "variables when required. May be specified multiple times")
    fs.strings("var", "Templated policy variables. Must be used in combination with "
               "-templated-policy flag. Format is VariableName:Value")


def policy_links(acl: ACL, ids: list[str], names: list[str]) -> list[Obj]:
    links = [{"Name": name} for name in names]
    for partial in ids:
        try:
            links.append({"ID": policy_id(acl, partial)})
        except Failure as err:
            raise Failure(f"Error resolving policy ID {partial}: {err}") from None
    return links


def role_links(acl: ACL, ids: list[str], names: list[str]) -> list[Obj]:
    links = [{"Name": name} for name in names]
    for partial in ids:
        try:
            links.append({"ID": role_id(acl, partial)})
        except Failure as err:
            raise Failure(f"Error resolving role ID {partial}: {err}") from None
    return links


# ---- output ---------------------------------------------------------------------------

_TIME = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def go_time(text: str) -> str:
    """An RFC 3339 time as Go's ``%v`` prints it: ``2024-01-02 15:04:05.123 +0000 UTC``."""
    m = _TIME.match(text or "")
    if m is None:
        return text
    day, clock, frac, zone = m.groups()
    frac = (frac or "").rstrip("0")
    offset = "+0000" if zone == "Z" else zone.replace(":", "")
    name = "UTC" if offset in ("+0000", "-0000") else offset
    return f"{day} {clock}{'.' + frac if frac else ''} {offset} {name}"


def dump(value: Any) -> str:
    """Go's json.MarshalIndent with four spaces."""
    return json.dumps(value, indent=4)


def _hash(obj: Obj) -> str:
    """``Hash`` arrives base64 (a Go []byte); Consul prints it as hex."""
    import base64
    try:
        return base64.b64decode(obj.get("Hash") or "").hex()
    except ValueError:
        return ""


def _meta_lines(obj: Obj, width: int, indent: str = "") -> list[str]:
    return [f"{indent}{'Hash:'.ljust(width)}{_hash(obj)}",
            f"{indent}{'Create Index:'.ljust(width)}{obj.get('CreateIndex', 0)}",
            f"{indent}{'Modify Index:'.ljust(width)}{obj.get('ModifyIndex', 0)}"]


def _links(obj: Obj, indent: str, title_indent: str) -> list[str]:
    """Policies, roles, identities and templated policies of a token or role."""
    lines: list[str] = []
    for key, title in (("Policies", "Policies:"), ("Roles", "Roles:")):
        if obj.get(key):
            lines.append(title_indent + title)
            lines += [f"{indent}{link.get('ID', '')} - {link.get('Name', '')}"
                      for link in obj[key]]
    if obj.get("ServiceIdentities"):
        lines.append(title_indent + "Service Identities:")
        for ident in obj["ServiceIdentities"]:
            dcs = ", ".join(ident.get("Datacenters") or []) or "all"
            lines.append(f"{indent}{ident['ServiceName']} (Datacenters: {dcs})")
    if obj.get("NodeIdentities"):
        lines.append(title_indent + "Node Identities:")
        lines += [f"{indent}{i['NodeName']} (Datacenter: {i.get('Datacenter', '')})"
                  for i in obj["NodeIdentities"]]
    if obj.get("TemplatedPolicies"):
        lines.append(title_indent + "Templated Policies:")
        for tp in obj["TemplatedPolicies"]:
            lines.append(f"{indent}{tp['TemplateName']}")
            variables = tp.get("TemplateVariables") or {}
            name = variables.get("Name") or variables.get("name")
            if name:
                lines.append(f"{indent}   Name: {name}")
            dcs = ", ".join(tp.get("Datacenters") or []) or "all"
            lines.append(f"{indent}   Datacenters: {dcs}")
    return lines


def format_token(token: Obj, meta: bool, listing: bool = False) -> str:
    """Consul's token prettyFormatter (FormatToken / formatTokenListEntry)."""
    w = 18
    lines = [f"{'AccessorID:'.ljust(w)}{token.get('AccessorID', '')}",
             f"{'SecretID:'.ljust(w)}{token.get('SecretID', '')}"]
    if token.get("Namespace"):
        lines.append(f"{'Namespace:'.ljust(w)}{token['Namespace']}")
    lines += [f"{'Description:'.ljust(w)}{token.get('Description', '')}",
              f"{'Local:'.ljust(w)}{str(bool(token.get('Local'))).lower()}"]
    if token.get("AuthMethod"):
        lines.append(f"{'Auth Method:'.ljust(w)}{token['AuthMethod']} (Namespace: "
                     f"{token.get('AuthMethodNamespace', '')})")
    lines.append(f"{'Create Time:'.ljust(w)}{go_time(token.get('CreateTime', ''))}")
    if token.get("ExpirationTime"):
        lines.append(f"{'Expiration Time:'.ljust(w)}{go_time(token['ExpirationTime'])}")
    if listing:
        lines.append(f"{'Legacy:'.ljust(w)}{str(bool(token.get('Legacy'))).lower()}")
    if meta:
        lines += _meta_lines(token, w)
    lines += _links(token, "   ", "")
    return "\n".join(lines) + "\n"


def format_policy(policy: Obj, meta: bool) -> str:
    w = 14
    lines = [f"{'ID:'.ljust(w)}{policy.get('ID', '')}",
             f"{'Name:'.ljust(w)}{policy.get('Name', '')}"]
    if policy.get("Namespace"):
        lines.append(f"{'Namespace:'.ljust(w)}{policy['Namespace']}")
    lines += [f"{'Description:'.ljust(w)}{policy.get('Description', '')}",
              f"{'Datacenters:'.ljust(w)}{', '.join(policy.get('Datacenters') or [])}"]
    if meta:
        lines += _meta_lines(policy, w)
    lines.append("Rules:")
    return "\n".join(lines) + "\n" + (policy.get("Rules") or "")


def format_policy_entry(policy: Obj, meta: bool) -> str:
    w = 14
    lines = [f"{policy.get('Name', '')}:", f"   {'ID:'.ljust(w)}{policy.get('ID', '')}"]
    if policy.get("Namespace"):
        lines.append(f"   {'Namespace:'.ljust(w)}{policy['Namespace']}")
    lines += [f"   {'Description:'.ljust(w)}{policy.get('Description', '')}",
              f"   {'Datacenters:'.ljust(w)}{', '.join(policy.get('Datacenters') or [])}"]
    if meta:
        lines += _meta_lines(policy, w, "   ")
    return "\n".join(lines) + "\n"


def format_role(role: Obj, meta: bool, listing: bool = False) -> str:
    w, pad = 14, "   " if listing else ""
    lines = [f"{role.get('Name', '')}:"] if listing else []
    if not listing:
        lines.append(f"{'ID:'.ljust(w)}{role.get('ID', '')}")
        lines.append(f"{'Name:'.ljust(w)}{role.get('Name', '')}")
    else:
        lines.append(f"{pad}{'ID:'.ljust(w)}{role.get('ID', '')}")
    if role.get("Namespace"):
        lines.append(f"{pad}{'Namespace:'.ljust(w)}{role['Namespace']}")
    lines.append(f"{pad}{'Description:'.ljust(w)}{role.get('Description', '')}")
    if meta:
        lines += _meta_lines(role, w, pad)
    lines += _links(role, pad + "   ", pad)
    return "\n".join(lines) + "\n"


def format_auth_method(method: Obj, meta: bool) -> str:
    w = 15
    lines = [f"{'Name:'.ljust(w)}{method.get('Name', '')}",
             f"{'Type:'.ljust(w)}{method.get('Type', '')}"]
    if method.get("Namespace"):
        lines.append(f"{'Namespace:'.ljust(w)}{method['Namespace']}")
    if method.get("DisplayName"):
        lines.append(f"{'DisplayName:'.ljust(w)}{method['DisplayName']}")
    lines.append(f"{'Description:'.ljust(w)}{method.get('Description', '')}")
    if method.get("MaxTokenTTL") not in (None, "", "0s", 0):
        lines.append(f"{'MaxTokenTTL:'.ljust(w)}{method['MaxTokenTTL']}")
    if method.get("TokenLocality"):
        lines.append(f"{'TokenLocality:'.ljust(w)}{method['TokenLocality']}")
    if meta:
        lines += [f"{'Create Index:'.ljust(w)}{method.get('CreateIndex', 0)}",
                  f"{'Modify Index:'.ljust(w)}{method.get('ModifyIndex', 0)}"]
    lines.append("Config:")
    lines.append(dump(method.get("Config") or {}))
    return "\n".join(lines) + "\n"


def format_auth_method_entry(method: Obj, meta: bool) -> str:
    w = 15
    lines = [f"{method.get('Name', '')}:", f"   {'Type:'.ljust(w)}{method.get('Type', '')}"]
    if method.get("DisplayName"):
        lines.append(f"   {'DisplayName:'.ljust(w)}{method['DisplayName']}")
    lines.append(f"   {'Description:'.ljust(w)}{method.get('Description', '')}")
    if meta:
        lines += [f"   {'Create Index:'.ljust(w)}{method.get('CreateIndex', 0)}",
                  f"   {'Modify Index:'.ljust(w)}{method.get('ModifyIndex', 0)}"]
    return "\n".join(lines) + "\n"


def format_binding_rule(rule: Obj, meta: bool, listing: bool = False) -> str:
    w, pad = 14, "   " if listing else ""
    lines = [f"{rule.get('ID', '')}:"] if listing else [f"{'ID:'.ljust(w)}{rule.get('ID', '')}"]
    for key in ("AuthMethod", "Description", "BindType", "BindName", "Selector"):
        lines.append(f"{pad}{(key + ':').ljust(w)}{rule.get(key, '')}")
    if meta:
        lines += [f"{pad}{'Create Index:'.ljust(w)}{rule.get('CreateIndex', 0)}",
                  f"{pad}{'Modify Index:'.ljust(w)}{rule.get('ModifyIndex', 0)}"]
    return "\n".join(lines) + "\n"


def show(ctx: Context, obj: Any, pretty: Callable[[], str]) -> int:
    """Print ``obj`` as JSON or with its pretty formatter, per ``-format``."""
    ctx.info(dump(obj) if ctx["format"] == "json" else pretty())
    return 0


def show_list(ctx: Context, items: list[Obj], entry: Callable[[Obj], str],
              sep: str = "") -> int:
    """A list: JSON array, or each entry's pretty text (Consul separates tokens with a blank
    line and prints the other kinds back to back)."""
    if ctx["format"] == "json":
        ctx.info(dump(items))
    elif items:
        ctx.info(sep.join(entry(item) for item in items))
    return 0
