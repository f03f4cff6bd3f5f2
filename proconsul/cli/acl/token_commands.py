"""``proconsul acl bootstrap``, ``acl token create|read|update|clone|delete|list`` and
``acl set-agent-token``."""

from __future__ import annotations

from proconsul.api import ClientError
from proconsul.cli.acl import objects
from proconsul.cli.acl.common import (
    Failure,
    Obj,
    acl_client,
    acl_command,
    duration_flag,
    format_token,
    format_token_head,
    identity_flags,
    node_identities,
    service_identities,
    show,
    template_name,
    templated_policies,
)
from proconsul.cli.acl.objects import POLICY, ROLE, TOKEN, Kind, links, merged_links
from proconsul.cli.command import Context
from proconsul.cli.flags import FlagSet
from proconsul.structs.acl import (
    ACLNodeIdentity,
    ACLServiceIdentity,
    ACLTemplatedPolicy,
    ACLTemplatedPolicyVariables,
)


def _meta(fs: FlagSet) -> None:
    objects.meta_flag(fs, TOKEN, "the content hash and Raft indices")


def _accessor(fs: FlagSet, what: str) -> None:
    fs.string("accessor-id", "", f"The Accessor ID of the token to {what}. It may be "
              "specified as a unique ID prefix but will error if the prefix matches "
              "multiple token Accessor IDs")
    fs.string("id", "", "DEPRECATED. Use -accessor-id instead.")


def _accessor_of(ctx: Context, missing: str) -> str:
    if ctx["accessor-id"]:
        return ctx["accessor-id"]
    if ctx["id"]:
        ctx.error("Use the -accessor-id parameter to specify token by Accessor ID")
        return ctx["id"]
    raise Failure(missing)


def _resolve(ctx: Context, partial: str) -> str:
    return objects.resolve(ctx, TOKEN, partial)


# ---- bootstrap --------------------------------------------------------------------------

def bootstrap(ctx: Context) -> int:
    secret = ""
    if ctx.args:
        if len(ctx.args) > 1:
            raise Failure("Too many arguments: expected at most one: a file with the "
                          "bootstrap secret")
        try:
            with open(ctx.args[0], encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as err:
            raise Failure(f"Failed ACL bootstrapping: {err}") from None
    try:
        token, _ = acl_client(ctx).bootstrap(secret)
    except ClientError as err:
        raise Failure(f"Failed ACL bootstrapping: {err}") from None
    return show(ctx, token, lambda: format_token(token, False))


BOOTSTRAP = acl_command("""
Usage: proconsul acl bootstrap [options] [<bootstrap secret file>]

  The bootstrap command will request Consul to generate a new token with
  unlimited privileges to use for management purposes and output its details.
  This can only be done once and afterwards bootstrapping will be disabled.
  If all tokens are lost and you need to bootstrap again you can follow the
  bootstrap reset procedure.

  The bootstrap secret file, if given, holds the SecretID the new token gets.
""", "Bootstrap Consul's ACL system", bootstrap)


# ---- token create -----------------------------------------------------------------------

def _create_flags(fs: FlagSet) -> None:
    _meta(fs)
    fs.string("description", "", "A description of the token")
    fs.strings("role-id", "ID of a role to use for this token. May be specified multiple "
               "times")
    fs.strings("role-name", "Name of a role to use for this token. May be specified "
               "multiple times")
    identity_flags(fs)
    fs.string("expires-ttl", "", "Duration of time this token should be valid for")
    fs.boolean("local", False, "Create this as a datacenter local token")
    fs.string("accessor", "", "Create the token with this Accessor ID. It must be a UUID. "
              "If not provided one will be auto-generated.")
    fs.string("secret", "", "Create the token with this Secret ID. It must be a UUID. If "
              "not provided one will be auto-generated.")


def create(ctx: Context) -> int:
    if not any(ctx[k] for k in ("policy-id", "policy-name", "role-id", "role-name",
                                "service-identity", "node-identity", "templated-policy")):
        raise Failure("Cannot create a token without specifying -policy-name, -policy-id, "
                      "-role-name, -role-id, -service-identity, -node-identity, or "
                      "-templated-policy at least once")
    acl = acl_client(ctx)
    token = {"Description": ctx["description"], "Local": ctx["local"]}
    if ctx["accessor"]:
        token["AccessorID"] = ctx["accessor"]
    if ctx["secret"]:
        token["SecretID"] = ctx["secret"]
    if ttl := duration_flag(ctx, "expires-ttl"):
        token["ExpirationTTL"] = ttl
    token["Policies"] = links(acl, POLICY, ctx["policy-id"], ctx["policy-name"])
    token["Roles"] = links(acl, ROLE, ctx["role-id"], ctx["role-name"])
    token["ServiceIdentities"] = service_identities(ctx["service-identity"])
    token["NodeIdentities"] = node_identities(ctx["node-identity"])
    token["TemplatedPolicies"] = templated_policies(ctx["templated-policy"], ctx["var"])
    return objects.save(ctx, TOKEN, {k: v for k, v in token.items() if v not in ([], "")},
                        "Failed to create new token", new=True)


CREATE = acl_command("""
Usage: proconsul acl token create [options]

  When creating a new token policies may be linked using either the -policy-id
  or the -policy-name options. When specifying policies by IDs you may use a
  unique prefix of the UUID as a shortcut for specifying the entire UUID.

  Create a new token:

          $ proconsul acl token create -description "Replication token" \\
                                       -policy-id b52fc3de-5 \\
                                       -policy-name "acl-replication" \\
                                       -role-id c630d4ef-6 \\
                                       -role-name "db-updater" \\
                                       -service-identity "web" \\
                                       -service-identity "db:east,west" \\
                                       -templated-policy "builtin/service" \\
                                       -var "name:api"
""", "Create an ACL token", create, _create_flags)


# ---- token read -------------------------------------------------------------------------

def _read_flags(fs: FlagSet) -> None:
    _meta(fs)
    _accessor(fs, "read")
    fs.boolean("self", False, "Indicates that the current HTTP token should be read by "
               "secret ID instead of expecting a -accessor-id")
    fs.boolean("expanded", False, "Indicates that the contents of the policies and roles "
               "affecting the token should also be shown.")


def read(ctx: Context) -> int:
    acl = acl_client(ctx)
    if ctx["self"]:
        if ctx["expanded"]:
            raise Failure("Cannot use both -expanded and -self. Instead, use -expanded and "
                          "-accessor-id=<accessor id>.")
        try:
            token, _ = acl.token_read_self(ctx.query_options())
        except ClientError as err:
            raise Failure(f"Error reading token: {err}") from None
    else:
        accessor = _resolve(ctx, _accessor_of(ctx, "Must specify the -accessor-id parameter"))
        try:
            token, _ = acl.token_read(accessor, ctx.query_options(), expanded=ctx["expanded"])
        except ClientError as err:
            raise Failure(f'Error reading token "{accessor}": {err}') from None
    return show(ctx, token, lambda: _expanded(token, ctx["meta"]) if ctx["expanded"]
                else format_token(token, ctx["meta"]))


def _expanded(token: Obj, meta: bool) -> str:
    """Consul's FormatTokenExpanded: the token's fields, then every policy, identity,
    templated policy and role it links, with their rules, then the agent's defaults."""
    policies = {p.get("ID"): p for p in token.get("ExpandedPolicies") or []}
    roles = {r.get("ID"): r for r in token.get("ExpandedRoles") or []}
    out = [format_token_head(token, meta)]

    def rules(text: str, indent: str) -> str:
        return text.replace("\n", "\n" + indent + "\t\t")

    def policy(link: Obj, indent: str) -> None:
        body = policies.get(link.get("ID"), link)
        out.append(f"{indent}Policy Name: {body.get('Name', '')}\n"
                   f"{indent}\tID: {body.get('ID', '')}\n"
                   f"{indent}\tDescription: {body.get('Description', '')}\n"
                   f"{indent}\tRules:\n{indent}\t\t{rules(body.get('Rules') or '', indent)}\n\n")

    def synthetic(head: str, made, indent: str) -> None:
        generated = made.synthetic_policy()
        out.append(f"{indent}{head}{indent}\tDescription: {generated.Description}\n"
                   f"{indent}\tRules:{rules(generated.Rules, indent)}\n\n")

    def service(ident: Obj, indent: str) -> None:
        dcs = ident.get("Datacenters") or []
        synthetic(f"Name: {ident['ServiceName']} (Datacenters: {', '.join(dcs) or 'all'})\n",
                  ACLServiceIdentity(ServiceName=ident["ServiceName"], Datacenters=dcs), indent)

    def node(ident: Obj, indent: str) -> None:
        synthetic(f"Name: {ident['NodeName']} (Datacenter: {ident.get('Datacenter', '')})\n",
                  ACLNodeIdentity(NodeName=ident["NodeName"],
                                  Datacenter=ident.get("Datacenter", "")), indent)

    def templated(link: Obj, indent: str) -> None:
        name, dcs = template_name(link), link.get("Datacenters") or []
        head = f"{link['TemplateName']}\n" + (f"{indent}\tName: {name}\n" if name else "") + \
            f"{indent}\tDatacenters: {', '.join(dcs) or 'all'}\n"
        synthetic(head, ACLTemplatedPolicy(
            TemplateName=link["TemplateName"], Datacenters=dcs,
            TemplateVariables=ACLTemplatedPolicyVariables(name=name)), indent)

    def section(obj: Obj, key: str, title: str, each, indent: str) -> None:
        if obj.get(key):
            out.append(f"{indent[:-1]}{title}:\n")
            for item in obj[key]:
                each(item, indent)

    section(token, "Policies", "Policies", policy, "\t")
    section(token, "ServiceIdentities", "Service Identities", service, "\t")
    section(token, "NodeIdentities", "Node Identities", node, "\t")
    section(token, "TemplatedPolicies", "Templated Policies", templated, "\t")
    if token.get("Roles"):
        out.append("Roles:\n")
        for link in token["Roles"]:
            role = roles.get(link.get("ID"), link)
            out.append(f"\tRole Name: {role.get('Name', '')}\n\t\tID: {role.get('ID', '')}\n"
                       f"\t\tDescription: {role.get('Description', '')}\n")
            section(role, "Policies", "Policies", policy, "\t\t\t")
            section(role, "ServiceIdentities", "Service Identities", service, "\t\t\t")
            section(role, "NodeIdentities", "Node Identities", node, "\t\t\t")
    out.append("=== End of Authorizer Layer 0: Token ===\n"
               "=== Start of Authorizer Layer 2: Agent Configuration Defaults (Inherited) ===\n"
               "Description: Defined at request-time by the agent that resolves the ACL token; "
               "other agents may have different configuration defaults\n"
               f"Resolved By Agent: \"{token.get('ResolvedByAgent', '')}\"\n\n"
               f"Default Policy: {token.get('AgentACLDefaultPolicy', '')}\n"
               "\tDescription: Backstop rule used if no preceding layer has a matching rule "
               "(refer to default_policy option in agent configuration)\n\n"
               f"Down Policy: {token.get('AgentACLDownPolicy', '')}\n"
               "\tDescription: Defines what to do if this Token's information cannot be read "
               "from the primary_datacenter (refer to down_policy option in agent "
               "configuration)\n\n")
    return "".join(out)


READ = acl_command("""
Usage: proconsul acl token read [options] -accessor-id TOKENID

  This command will retrieve and print out the details of a single token.

  Using a partial ID:

          $ proconsul acl token read -accessor-id 4be56c77-82

  Using the full ID:

          $ proconsul acl token read -accessor-id 4be56c77-8244-4c7d-b08c-667b8c71baed
""", "Read an ACL token", read, _read_flags)


# ---- token update -----------------------------------------------------------------------

def _update_flags(fs: FlagSet) -> None:
    _meta(fs)
    _accessor(fs, "update")
    fs.string("description", "", "A description of the token")
    fs.strings("role-id", "ID of a role to use for this token. Overwrites existing roles. "
               "May be specified multiple times")
    fs.strings("role-name", "Name of a role to use for this token. Overwrites existing "
               "roles. May be specified multiple times")
    identity_flags(fs)
    for kind in ("policy-id", "policy-name", "role-id", "role-name"):
        noun = kind.split("-")[0]
        fs.strings(f"append-{kind}", f"{kind.split('-')[1].upper()} of a {noun} to add to "
                   f"this token. The token retains existing {noun}s. May be specified "
                   "multiple times")
    fs.strings("append-service-identity", "Name of a service identity to use for this "
               "token. This token retains existing service identities. May be specified "
               "multiple times. Format is the SERVICENAME or "
               "SERVICENAME:DATACENTER1,DATACENTER2,...")
    fs.strings("append-node-identity", "Name of a node identity to use for this token. "
               "This token retains existing node identities. May be specified multiple "
               "times. Format is NODENAME:DATACENTER")
    for kind in ("policies", "roles", "service-identities", "node-identities"):
        fs.boolean(f"merge-{kind}", False, f"DEPRECATED. Use the -append- flags to keep "
                   f"the token's existing {kind.replace('-', ' ')}.")


# (what the replacing flags are called, the noun, replacing flags, appending flags)
_COMBINE = {
    "policy": ("policy-id/policy-name flags", "policies", "-policy-id or -policy-name",
               "-append-policy-id or -append-policy-name"),
    "role": ("role-id/role-name flags", "roles", "-role-id or -role-name",
             "-append-role-id or -append-role-name"),
    "service": ("service-identity flag", "service identities", "-service-identity",
                "-append-service-identity"),
    "node": ("node-identity flag", "node identities", "-node-identity",
             "-append-node-identity"),
}


def _combine(kind: str, replace: list[str], append: list[str]) -> None:
    """Consul refuses a replacing flag together with its -append- variant."""
    if replace and append:
        flags, noun, plain, appending = _COMBINE[kind]
        variant = "append- variants" if kind in ("policy", "role") else f"append-{flags[:-5]}"
        raise Failure(f"Cannot combine the use of {flags} with {variant}. To set or "
                      f"overwrite existing {noun}, use {plain}. To append to existing "
                      f"{noun}, use {appending}.")


def update(ctx: Context) -> int:
    accessor = _accessor_of(ctx, "Cannot update a token without specifying the -accessor-id "
                                 "parameter")
    acl = acl_client(ctx)
    accessor = _resolve(ctx, accessor)
    try:
        token, _ = acl.token_read(accessor)
    except ClientError as err:
        raise Failure(f"Error when retrieving current token: {err}") from None
    if ctx["description"]:
        token["Description"] = ctx["description"]
    _update_links(ctx, acl, token, POLICY, "Policies")
    _update_links(ctx, acl, token, ROLE, "Roles")
    _combine("service", ctx["service-identity"], ctx["append-service-identity"])
    _combine("node", ctx["node-identity"], ctx["append-node-identity"])
    services = service_identities(ctx["service-identity"] or ctx["append-service-identity"])
    if ctx["merge-service-identities"] or ctx["append-service-identity"]:
        named = {s["ServiceName"]: s for s in token.get("ServiceIdentities") or []}
        named.update({s["ServiceName"]: s for s in services})
        token["ServiceIdentities"] = list(named.values())
    else:
        token["ServiceIdentities"] = services
    nodes = node_identities(ctx["node-identity"] or ctx["append-node-identity"])
    if ctx["merge-node-identities"] or ctx["append-node-identity"]:
        old = token.get("NodeIdentities") or []
        token["NodeIdentities"] = old + [node for node in nodes if node not in old]
    else:
        token["NodeIdentities"] = nodes
    if ctx["templated-policy"]:
        token["TemplatedPolicies"] = templated_policies(ctx["templated-policy"], ctx["var"])
    return objects.save(ctx, TOKEN, token, f"Failed to update token {accessor}", new=False)


def _update_links(ctx: Context, acl, token: Obj, kind: Kind, key: str) -> None:
    """``-<kind>-id|name`` replace the token's ``key`` links, ``-append-<kind>-id|name``
    add to them (``-merge-<key>``: the deprecated way to add)."""
    ids, names = ctx[f"{kind.noun}-id"], ctx[f"{kind.noun}-name"]
    more_ids, more_names = ctx[f"append-{kind.noun}-id"], ctx[f"append-{kind.noun}-name"]
    _combine(kind.noun, ids or names, more_ids or more_names)
    old = token.get(key) or []
    if ctx[f"merge-{key.lower()}"]:
        ctx.error(f"merge-{key.lower()} is deprecated and will be removed in a future Consul "
                  f"version. Use `append-{kind.noun}-name` or `append-{kind.noun}-id` instead.")
        token[key] = merged_links(old, links(acl, kind, ids, names))
    elif ids or names:
        token[key] = links(acl, kind, ids, names)
    elif more_ids or more_names:
        token[key] = old + links(acl, kind, more_ids, more_names)


UPDATE = acl_command("""
Usage: proconsul acl token update [options]

  This command will update a token. Some parts such as marking the token local
  cannot be changed.

  Update a token description and add a policy to the existing ones:

          $ proconsul acl token update -accessor-id abcd -description "replication" \\
                                       -append-policy-name "token-replication"

  Update all editable fields of the token:

          $ proconsul acl token update -accessor-id abcd \\
                                       -description "replication" \\
                                       -policy-name "token-replication" \\
                                       -role-name "db-updater"
""", "Update an ACL token", update, _update_flags)


# ---- token clone, delete, list ----------------------------------------------------------

def _clone_flags(fs: FlagSet) -> None:
    _accessor(fs, "clone")
    fs.string("description", "", "A description of the new cloned token")


def clone(ctx: Context) -> int:
    accessor = _resolve(ctx, _accessor_of(ctx, "Cannot clone a token without specifying "
                                               "the -accessor-id parameter"))
    try:
        token, _ = acl_client(ctx).token_clone(accessor, ctx["description"])
    except ClientError as err:
        raise Failure(f"Error cloning token: {err}") from None
    return show(ctx, token, lambda: format_token(token, False))


CLONE = acl_command("""
Usage: proconsul acl token clone [options]

  This command will clone a token. When cloning an alternate description may be
  given for use with the new token.

  Example:

          $ proconsul acl token clone -accessor-id abcd -description "replication"
""", "Clone an ACL token", clone, _clone_flags)


def delete(ctx: Context) -> int:
    accessor = _accessor_of(ctx, "Must specify the -accessor-id parameter")
    return objects.delete(ctx, TOKEN, _resolve(ctx, accessor))


DELETE = acl_command("""
Usage: proconsul acl token delete [options] -accessor-id TOKEN

  Deletes an ACL token by providing either the ID or a unique ID prefix.

  Delete by prefix:

          $ proconsul acl token delete -accessor-id b6b85

  Delete by full ID:

          $ proconsul acl token delete -accessor-id b6b856da-5193-4e78-845a-7d61ca8371ba
""", "Delete an ACL token", delete, lambda fs: _accessor(fs, "delete"), formatted=False)


def list_tokens(ctx: Context) -> int:
    return objects.list_all(ctx, TOKEN, lambda t: format_token(t, ctx["meta"]))


LIST = acl_command("""
Usage: proconsul acl token list [options]

  Lists all the ACL tokens.

  Example:

          $ proconsul acl token list
""", "List ACL tokens", list_tokens, _meta)


# ---- set-agent-token --------------------------------------------------------------------

def set_agent_token(ctx: Context) -> int:
    if len(ctx.args) != 2:
        raise Failure("Missing TYPE and TOKEN arguments" if len(ctx.args) < 2
                      else "Too many arguments (expected 2)")
    slot, value = ctx.args
    try:
        acl_client(ctx).set_agent_token(slot, value)
    except ClientError as err:
        raise Failure(f"Failed setting token: {err}") from None
    ctx.info(f'ACL token "{slot}" set successfully')
    return 0


SET_AGENT_TOKEN = acl_command("""
Usage: proconsul acl set-agent-token [options] TYPE TOKEN

  This command will set the corresponding token for the agent to use. If token
  persistence is not enabled, then tokens uploaded this way are not persisted
  and if the agent reloads then the tokens will need to be set again.

  Token Types:

    default                            The default token is the token that the agent will use
                                       for both internal agent operations and operations
                                       initiated by the HTTP and DNS interfaces when no
                                       specific token is provided.

    agent                              The token that the agent will use for internal agent
                                       operations.

    agent_recovery                     This sets the token that can be used to access the
                                       Agent APIs in the event that the ACL datacenter
                                       cannot be reached.

    replication                        This is the token that the agent will use for
                                       replication operations.

    config_file_service_registration   This is the token that the agent uses to register
                                       services and checks defined in config files.

    dns                                This is the token that the agent uses for DNS
                                       lookups.
""", "Assign tokens for the Consul Agent's usage", set_agent_token, formatted=False)
