"""``proconsul acl policy create|read|update|delete|list`` and ``acl role ...``."""

from __future__ import annotations

from proconsul.api import APIError, ClientError
from proconsul.api.acl import ACL
from proconsul.cli.acl import objects
from proconsul.cli.acl.common import (
    Failure,
    Obj,
    acl_client,
    acl_command,
    format_policy,
    format_role,
    identity_flags,
    load_data,
    node_identities,
    service_identities,
    show,
    templated_policies,
)
from proconsul.cli.acl.objects import POLICY, ROLE, links, merged_links, meta_flag
from proconsul.cli.command import Context
from proconsul.cli.flags import FlagSet


def _policy_fields(fs: FlagSet) -> None:
    meta_flag(fs, POLICY)
    fs.string("description", "", "A description of the policy")
    fs.strings("valid-datacenter", "Datacenter that the policy should be valid within. "
               "This flag may be specified multiple times")
    fs.string("rules", "", "The policy rules. May be prefixed with '@' to indicate that the "
              "value is a file path to load the rules from. '-' may also be given to "
              "indicate that the rules are available on stdin")


def _create_policy_flags(fs: FlagSet) -> None:
    _policy_fields(fs)
    fs.string("name", "", "The new policy's name. This flag is required.")


def _rules(ctx: Context, failed: str = "Error loading rules") -> str:
    try:
        return load_data(ctx["rules"])
    except Failure as err:
        raise Failure(f"{failed}: {err}") from None


def policy_create(ctx: Context) -> int:
    if not ctx["name"]:
        raise Failure("Missing require '-name' flag")
    policy = {"Name": ctx["name"], "Description": ctx["description"], "Rules": _rules(ctx)}
    if ctx["valid-datacenter"]:
        policy["Datacenters"] = ctx["valid-datacenter"]
    return objects.save(ctx, POLICY, policy, "Failed to create new policy", new=True)


POLICY_CREATE = acl_command("""
Usage: proconsul acl policy create -name NAME [options]

  Both the -rules and -from-token option values allow loading the value
  from stdin, a file or the raw value. To use stdin pass '-' as the value.
  To load the value from a file prefix the value with an '@'. Any other
  values will be used directly. (-from-token, for legacy tokens, is not supported.)

  Create a new policy:

          $ proconsul acl policy create -name "new-policy" \\
                                        -description "This is an example policy" \\
                                        -valid-datacenter "dc1" \\
                                        -valid-datacenter "dc2" \\
                                        -rules @rules.hcl
""", "Create an ACL policy", policy_create, _create_policy_flags)


def _policy_id(ctx: Context) -> str:
    """The policy the ``-id`` (or a unique prefix of it) or ``-name`` flag names."""
    if ctx["id"]:
        return objects.resolve(ctx, POLICY, ctx["id"])
    if not ctx["name"]:
        raise Failure("Must specify either the -id or -name parameters")
    try:
        return acl_client(ctx).policy_read_by_name(ctx["name"])[0]["ID"]
    except APIError as err:
        if err.status == 404:
            raise Failure(f"Error determining policy ID: No such policy with name "
                          f"{ctx['name']}") from None
        raise Failure(f"Error determining policy ID: Failed to find policy with name "
                      f"{ctx['name']}: {err}") from None
    except ClientError as err:
        raise Failure(f"Error determining policy ID: Failed to find policy with name "
                      f"{ctx['name']}: {err}") from None


def policy_read(ctx: Context) -> int:
    """Consul words this read its own way: ``Error reading policy "id:<ID>"`` or
    ``"name:<NAME>"``, and a missing policy is ``Error policy not found: ...``."""
    if not ctx["id"] and not ctx["name"]:
        raise Failure("Must specify either the -id or -name parameters")
    if ctx["id"]:
        ident, fetch, label = objects.resolve(ctx, POLICY, ctx["id"]), ACL.policy_read, "id"
    else:
        ident, fetch, label = ctx["name"], ACL.policy_read_by_name, "name"
    try:
        policy = fetch(acl_client(ctx), ident, ctx.query_options())[0]
    except APIError as err:
        if err.status == 404:
            raise Failure(f"Error policy not found: {ident}") from None
        raise Failure(_read_error(label, ident, err)) from None
    except ClientError as err:
        raise Failure(_read_error(label, ident, err)) from None
    return show(ctx, policy, lambda: format_policy(policy, ctx["meta"]))


def _read_error(label: str, ident: str, err: Exception) -> str:
    cause = f"Failed to find policy with name {ident}: {err}" if label == "name" else err
    return f'Error reading policy "{label}:{ident}": {cause}'


POLICY_READ = acl_command("""
Usage: proconsul acl policy read [options] POLICY

  This command will retrieve and print out the details
  of a single policy.

  Read:

          $ proconsul acl policy read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba

  Read by name:

          $ proconsul acl policy read -name my-policy
""", "Read an ACL policy", policy_read,
    lambda fs: (meta_flag(fs, POLICY), objects.id_or_name_flags(fs, POLICY, "read")))


def _update_policy_flags(fs: FlagSet) -> None:
    _policy_fields(fs)
    objects.id_or_name_flags(fs, POLICY, "update")
    fs.boolean("no-merge", False, "Do not merge the current policy information with what "
               "is provided to the command. Instead overwrite all fields with the exception "
               "of the policy ID which is immutable.")


def policy_update(ctx: Context) -> int:
    pid = _policy_id(ctx)
    rules = _rules(ctx, "Error loading data source")
    if ctx["no-merge"]:
        policy = {"ID": pid, "Name": ctx["name"], "Description": ctx["description"],
                  "Rules": rules, "Datacenters": ctx["valid-datacenter"]}
    else:
        policy = objects.read(ctx, POLICY, pid)
        if ctx["id"] and ctx["name"]:
            policy["Name"] = ctx["name"]
        if "description" in ctx.given:
            policy["Description"] = ctx["description"]
        if "rules" in ctx.given:
            policy["Rules"] = rules
        if ctx["valid-datacenter"]:
            policy["Datacenters"] = ctx["valid-datacenter"]
    return objects.save(ctx, POLICY, policy, f'Error updating policy "{pid}"', new=False)


POLICY_UPDATE = acl_command("""
Usage: proconsul acl policy update [options]

  Updates a policy. By default it will merge the policy information with its
  current state so that you do not have to provide all parameters. This
  behavior can be disabled by passing -no-merge.

  Rename the Policy:

          $ proconsul acl policy update -id abcd -name "better-name"

  Update the Rules:

          $ proconsul acl policy update -id abcd -rules @rules.hcl
""", "Update an ACL policy", policy_update, _update_policy_flags)


def policy_delete(ctx: Context) -> int:
    return objects.delete(ctx, POLICY, _policy_id(ctx))


POLICY_DELETE = acl_command("""
Usage: proconsul acl policy delete [options] -id POLICY

  Deletes an ACL policy by providing either the ID or a unique ID prefix.

  Delete by prefix:

          $ proconsul acl policy delete -id b6b85

  Delete by name:

          $ proconsul acl policy delete -name my-policy
""", "Delete an ACL policy", policy_delete,
    lambda fs: objects.id_or_name_flags(fs, POLICY, "delete"), formatted=False)


def policy_list(ctx: Context) -> int:
    return objects.list_all(ctx, POLICY, lambda p: format_policy(p, ctx["meta"], listing=True))


POLICY_LIST = acl_command("""
Usage: proconsul acl policy list [options]

  This command lists all policies. By default it will not show metadata
  like the content hash and raft indices.

  Example:

          $ proconsul acl policy list
""", "Lists ACL policies", policy_list, lambda fs: meta_flag(fs, POLICY))


# ---- roles ------------------------------------------------------------------------------

def _role_fields(fs: FlagSet) -> None:
    meta_flag(fs, ROLE)
    fs.string("description", "", "A description of the role")
    identity_flags(fs)


def _role_links(ctx: Context, acl, role: dict) -> None:
    role["Policies"] = links(acl, POLICY, ctx["policy-id"], ctx["policy-name"])
    role["ServiceIdentities"] = service_identities(ctx["service-identity"])
    role["NodeIdentities"] = node_identities(ctx["node-identity"])
    role["TemplatedPolicies"] = templated_policies(ctx["templated-policy"], ctx["var"])


def role_create(ctx: Context) -> int:
    if not ctx["name"]:
        raise Failure("Missing required '-name' flag")
    if not any(ctx[k] for k in ("policy-id", "policy-name", "service-identity",
                                "node-identity", "templated-policy")):
        raise Failure("Cannot create a role without specifying -policy-name, -policy-id, "
                      "-service-identity, -node-identity, or -templated-policy at least once")
    role = {"Name": ctx["name"], "Description": ctx["description"]}
    _role_links(ctx, acl_client(ctx), role)
    return objects.save(ctx, ROLE, {k: v for k, v in role.items() if v != []},
                        "Failed to create new role", new=True)


ROLE_CREATE = acl_command("""
Usage: proconsul acl role create -name NAME [options]

  Create a new role:

          $ proconsul acl role create -name "new-role" \\
                                      -description "This is an example role" \\
                                      -policy-id b52fc3de-5 \\
                                      -policy-name "acl-replication" \\
                                      -service-identity "web" \\
                                      -service-identity "db:east,west"
""", "Create an ACL role", role_create,
    lambda fs: (_role_fields(fs), fs.string("name", "", "The new role's name. This flag is "
                                            "required.")))


def role_read(ctx: Context) -> int:
    if ctx["id"]:
        role = objects.read(ctx, ROLE, objects.resolve(ctx, ROLE, ctx["id"]))
    elif ctx["name"]:
        role = objects.read(ctx, ROLE, ctx["name"], by="name", via=ACL.role_read_by_name)
    else:
        raise Failure("Must specify either the -id or -name parameters")
    return show(ctx, role, lambda: format_role(role, ctx["meta"]))


ROLE_READ = acl_command("""
Usage: proconsul acl role read [options] ROLE

  This command will retrieve and print out the details of a single role.

  Read:

          $ proconsul acl role read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba

  Read by name:

          $ proconsul acl role read -name my-policy
""", "Read an ACL role", role_read,
    lambda fs: (meta_flag(fs, ROLE), objects.id_or_name_flags(fs, ROLE, "read")))


def role_update(ctx: Context) -> int:
    if not ctx["id"]:
        raise Failure("Cannot update a role without specifying the -id parameter")
    role = objects.read(ctx, ROLE, objects.resolve(ctx, ROLE, ctx["id"]),
                        failed="Error when retrieving current role")
    acl = acl_client(ctx)
    if ctx["name"] or ctx["no-merge"]:
        role["Name"] = ctx["name"]
    if ctx["description"] or ctx["no-merge"]:  # as Consul: -description "" clears nothing
        role["Description"] = ctx["description"]
    if ctx["no-merge"]:
        _role_links(ctx, acl, role)
    else:
        role["Policies"] = merged_links(role.get("Policies") or [], links(
            acl, POLICY, ctx["policy-id"], ctx["policy-name"]))
        by_name = {s["ServiceName"]: s for s in role.get("ServiceIdentities") or []}
        by_name.update({s["ServiceName"]: s for s in service_identities(ctx["service-identity"])})
        role["ServiceIdentities"] = list(by_name.values())
        nodes = role.get("NodeIdentities") or []
        role["NodeIdentities"] = nodes + [n for n in node_identities(ctx["node-identity"])
                                          if n not in nodes]
        if ctx["templated-policy"]:
            role["TemplatedPolicies"] = (role.get("TemplatedPolicies") or []) + \
                templated_policies(ctx["templated-policy"], ctx["var"])
    return objects.save(ctx, ROLE, role, f'Error updating role "{role.get("ID")}"', new=False)


ROLE_UPDATE = acl_command("""
Usage: proconsul acl role update [options]

  Updates a role. By default it will merge the role information with its
  current state so that you do not have to provide all parameters. This
  behavior can be disabled by passing -no-merge.

  Rename the role:

          $ proconsul acl role update -id abcd -name "better-name"

  Add a policy:

          $ proconsul acl role update -id abcd -policy-name "other-policy"
""", "Update an ACL role", role_update,
    lambda fs: (_role_fields(fs), objects.id_or_name_flags(fs, ROLE, "update"),
                fs.boolean("no-merge", False, "Do not merge the current role information "
                           "with what is provided to the command. Instead overwrite all "
                           "fields with the exception of the role ID which is immutable.")))


def role_delete(ctx: Context) -> int:
    if ctx["id"]:
        return objects.delete(ctx, ROLE, objects.resolve(ctx, ROLE, ctx["id"]))
    if not ctx["name"]:
        raise Failure("Must specify the -id or -name parameters")
    return objects.delete(ctx, ROLE, _role_id_by_name(ctx, ctx["name"]))


def _role_id_by_name(ctx: Context, name: str) -> str:
    """Consul's GetRoleIDByName: the role list searched for the name."""
    try:
        roles: list[Obj] = acl_client(ctx).role_list()[0]
    except ClientError as err:
        raise Failure(f"Error determining role ID: {err}") from None
    for role in roles:
        if role.get("Name") == name:
            return role["ID"]
    raise Failure(f"Error determining role ID: No such role with name {name}")


ROLE_DELETE = acl_command("""
Usage: proconsul acl role delete [options] -id ROLE

  Deletes an ACL role by providing either the ID or a unique ID prefix.

  Delete by prefix:

          $ proconsul acl role delete -id b6b85

  Delete by name:

          $ proconsul acl role delete -name my-role
""", "Delete an ACL role", role_delete,
    lambda fs: objects.id_or_name_flags(fs, ROLE, "delete"), formatted=False)


def role_list(ctx: Context) -> int:
    return objects.list_all(ctx, ROLE, lambda r: format_role(r, ctx["meta"], listing=True))


ROLE_LIST = acl_command("""
Usage: proconsul acl role list [options]

  This command lists all roles. By default it will not show metadata
  like the content hash and raft indices.

  Example:

          $ proconsul acl role list
""", "Lists ACL roles", role_list, lambda fs: meta_flag(fs, ROLE))
