"""What the ACL commands share: the client, data sources, partial IDs, identity flags and
the pretty/JSON formatters Consul's ``command/acl`` prints."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from proconsul.api import ClientError
from proconsul.api.acl import ACL
from proconsul.api.session import parse_duration
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


def duration_flag(ctx: Context, flag: str) -> str:
    """A Go duration flag's value ("" when not positive), refused as Go's flag package
    refuses it."""
    try:
        seconds = parse_duration(ctx[flag])
    except ValueError:
        raise Failure(f'invalid value "{ctx[flag]}" for flag -{flag}: parse error') from None
    return ctx[flag] if seconds > 0 else ""


def load_data(arg: str) -> str:
    """Consul's helpers.LoadDataSource: ``@file``, ``-`` for stdin, else the text itself."""
    if arg.startswith("@"):
        try:
            with open(arg[1:], encoding="utf-8") as f:
                return f.read()
        except OSError as err:  # worded as Go's os.ReadFile error
            op = "read" if isinstance(err, IsADirectoryError) else "open"
            raise Failure(f"Failed to read file: {op} {arg[1:]}: "
                          f"{(err.strerror or str(err)).lower()}") from None
    if arg == "-":
        return sys.stdin.read()
    return arg


def service_identities(items: list[str]) -> list[Obj]:
    """``NAME`` or ``NAME:DC1,DC2`` as ACLServiceIdentity objects."""
    out = []
    for item in items:
        if item.count(":") > 1:
            raise Failure(f'Malformed -service-identity argument: "{item}"')
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


_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


def dump(value: Any, indent: int = 4, sort_keys: bool = False) -> str:
    """Go's json.MarshalIndent: UTF-8 kept, ``<``, ``>`` and ``&`` escaped (they appear
    only inside strings, so the serialized text can be rewritten)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys)
    return re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESCAPES[m.group()], text)


def _hash(obj: Obj) -> str:
    """``Hash`` arrives base64 (a Go []byte); Consul prints it as hex."""
    try:
        return base64.b64decode(obj.get("Hash") or "").hex()
    except ValueError:
        return ""


Pairs = list[tuple[str, Any]]


def _block(pairs: Pairs, width: int, pad: str = "") -> str:
    """``Label:`` padded to ``width``, then the value: one line a pair."""
    return "".join(f"{pad}{(label + ':').ljust(width)}{value}\n" for label, value in pairs)


def _entry(title: str, pairs: Pairs, width: int) -> str:
    """A list entry: ``title:`` then its pairs indented by three spaces."""
    return f"{title}:\n" + _block(pairs, width, "   ")


def _scope(obj: Obj) -> Pairs:
    return [(key, obj[key]) for key in ("Partition", "Namespace") if obj.get(key)]


def _meta(obj: Obj, meta: bool, hashed: bool = True) -> Pairs:
    if not meta:
        return []
    return ([("Hash", _hash(obj))] if hashed else []) + [
        ("Create Index", obj.get("CreateIndex", 0)), ("Modify Index", obj.get("ModifyIndex", 0))]


def _links(obj: Obj, pad: str = "") -> str:
    """Policies, roles, identities and templated policies of a token or role."""
    indent = pad + "   "
    lines: list[str] = []
    for key, title in (("Policies", "Policies:"), ("Roles", "Roles:")):
        if obj.get(key):
            lines.append(pad + title)
            lines += [f"{indent}{link.get('ID', '')} - {link.get('Name', '')}"
                      for link in obj[key]]
    if obj.get("ServiceIdentities"):
        lines.append(pad + "Service Identities:")
        lines += [f"{indent}{i['ServiceName']} (Datacenters: {_dcs(i)})"
                  for i in obj["ServiceIdentities"]]
    if obj.get("NodeIdentities"):
        lines.append(pad + "Node Identities:")
        lines += [f"{indent}{i['NodeName']} (Datacenter: {i.get('Datacenter', '')})"
                  for i in obj["NodeIdentities"]]
    if obj.get("TemplatedPolicies"):
        lines.append(pad + "Templated Policies:")
        for tp in obj["TemplatedPolicies"]:
            lines.append(f"{indent}{tp['TemplateName']}")
            if template_name(tp):
                lines.append(f"{indent}   Name: {template_name(tp)}")
            lines.append(f"{indent}   Datacenters: {_dcs(tp)}")
    return "".join(line + "\n" for line in lines)


def _dcs(obj: Obj) -> str:
    return ", ".join(obj.get("Datacenters") or []) or "all"


def template_name(templated: Obj) -> str:
    """The ``name`` variable of a templated policy link (``Name`` from Go clients)."""
    variables = templated.get("TemplateVariables") or {}
    return variables.get("Name") or variables.get("name") or ""


def format_token_head(token: Obj, meta: bool) -> str:
    """The token's own fields: what FormatToken and FormatTokenExpanded both start with."""
    pairs: Pairs = [("AccessorID", token.get("AccessorID", "")),
                    ("SecretID", token.get("SecretID", "")), *_scope(token),
                    ("Description", token.get("Description", "")),
                    ("Local", str(bool(token.get("Local"))).lower())]
    if token.get("AuthMethod"):
        pairs.append(("Auth Method", f"{token['AuthMethod']} (Namespace: "
                                     f"{token.get('AuthMethodNamespace', '')})"))
    pairs.append(("Create Time", go_time(token.get("CreateTime", ""))))
    if token.get("ExpirationTime"):
        pairs.append(("Expiration Time", go_time(token["ExpirationTime"])))
    return _block(pairs + _meta(token, meta), 18)


def format_token(token: Obj, meta: bool) -> str:
    """Consul's token prettyFormatter (FormatToken; a list entry is the same)."""
    return format_token_head(token, meta) + _links(token)


def format_policy(policy: Obj, meta: bool, listing: bool = False) -> str:
    """FormatPolicy, or (``listing``) formatPolicyListEntry."""
    pairs = [("ID", policy.get("ID", ""))] + \
        ([] if listing else [("Name", policy.get("Name", ""))]) + _scope(policy) + \
        [("Description", policy.get("Description", "")),
         ("Datacenters", ", ".join(policy.get("Datacenters") or []))] + _meta(policy, meta)
    if listing:
        return _entry(policy.get("Name", ""), pairs, 14)
    return _block(pairs, 14) + "Rules:\n" + (policy.get("Rules") or "")


def format_role(role: Obj, meta: bool, listing: bool = False) -> str:
    """FormatRole, or (``listing``) formatRoleListEntry."""
    pairs = [("ID", role.get("ID", ""))] + \
        ([] if listing else [("Name", role.get("Name", ""))]) + _scope(role) + \
        [("Description", role.get("Description", ""))] + _meta(role, meta)
    if listing:
        return _entry(role.get("Name", ""), pairs, 14) + _links(role, "   ")
    return _block(pairs, 14) + _links(role)


def format_auth_method(method: Obj, meta: bool, listing: bool = False) -> str:
    """FormatAuthMethod (its Config as Go indents a map: two spaces, sorted keys), or
    (``listing``) formatAuthMethodListEntry."""
    pairs = ([] if listing else [("Name", method.get("Name", ""))]) + \
        [("Type", method.get("Type", ""))] + _scope(method)
    if method.get("DisplayName"):
        pairs.append(("DisplayName", method["DisplayName"]))
    pairs.append(("Description", method.get("Description", "")))
    if listing:
        return _entry(method.get("Name", ""), pairs + _meta(method, meta, hashed=False), 14)
    if method.get("MaxTokenTTL") not in (None, "", "0s", 0):
        pairs.append(("MaxTokenTTL", method["MaxTokenTTL"]))
    if method.get("TokenLocality"):
        pairs.append(("TokenLocality", method["TokenLocality"]))
    return _block(pairs + _meta(method, meta, hashed=False), 15) + "Config:\n" + \
        dump(method.get("Config"), indent=2, sort_keys=True)


def format_binding_rule(rule: Obj, meta: bool, listing: bool = False) -> str:
    """FormatBindingRule, or (``listing``) formatBindingRuleListEntry."""
    pairs = ([] if listing else [("ID", rule.get("ID", ""))]) + _scope(rule) + \
        [(key, rule.get(key, "")) for key in
         ("AuthMethod", "Description", "BindType", "BindName", "Selector")] + \
        _meta(rule, meta, hashed=False)
    return _entry(rule.get("ID", ""), pairs, 14) if listing else _block(pairs, 14)


# the templates' one variable, as Consul documents it: (what it is, an example value)
_TEMPLATE_NAME_VARIABLE = {
    "builtin/service": ("The name of the service", "api"),
    "builtin/node": ("The node name", "node-1"),
    "builtin/api-gateway": ("The api gateway service name", "api-gateway"),
}
_TEMPLATES_WITHOUT_VARIABLES = ("builtin/dns", "builtin/nomad-server", "builtin/nomad-client")


def format_templated_policy(template: Obj, meta: bool) -> str:
    """FormatTemplatedPolicy: name, description, the input variables with an example
    command, and (``meta``) the schema and raw template."""
    name = template.get("TemplateName", "")
    out = f"Name:            {name}\nDescription:     {template.get('Description', '')}\n" \
          "Input variables:"
    example = f"Example usage:\n\tproconsul acl token create -templated-policy {name}"
    if name in _TEMPLATE_NAME_VARIABLE:
        what, value = _TEMPLATE_NAME_VARIABLE[name]
        out += f"\n\tName: String - Required - {what}.\n{example} -var name:{value}\n"
    elif name in _TEMPLATES_WITHOUT_VARIABLES:
        out += f" None\n{example}\n"
    else:
        out += "   None\n"
    if meta:
        if template.get("Schema"):
            out += f"Schema:\n{template['Schema']}\n\n"
        out += f"Raw Template:\n{template.get('Template', '')}\n"
    return out


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
