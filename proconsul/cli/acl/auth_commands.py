"""``proconsul acl auth-method ...``, ``acl binding-rule ...``, ``acl templated-policy ...``,
``login`` and ``logout``."""

from __future__ import annotations

import json
import os

from proconsul.api import APIError, ClientError
from proconsul.cli.acl import objects
from proconsul.cli.acl.common import (
    Failure,
    acl_client,
    acl_command,
    dump,
    duration_flag,
    format_auth_method,
    format_binding_rule,
    format_policy,
    format_templated_policy,
    load_data,
    show,
)
from proconsul.cli.acl.objects import AUTH_METHOD, BINDING_RULE
from proconsul.cli.command import Context, parse_map
from proconsul.cli.flags import FlagSet

RAFT = "the raft indices"

# -kubernetes-* shorthands and the Config keys they fill (Consul's kubernetes validator)
KUBERNETES = {"kubernetes-host": "Host", "kubernetes-ca-cert": "CACert",
              "kubernetes-service-account-jwt": "ServiceAccountJWT"}


def _method_fields(fs: FlagSet) -> None:
    objects.meta_flag(fs, AUTH_METHOD, RAFT)
    fs.string("display-name", "", "An optional name to use instead of the name when "
              "displaying this auth method in a UI.")
    fs.string("description", "", "A description of the auth method.")
    fs.string("max-token-ttl", "", "Duration of time all tokens created by this auth "
              "method should be valid for")
    fs.string("token-locality", "", "Defines the kind of token that this auth method should "
              "produce. This can be either 'local' or 'global'. If empty the value of "
              "'local' is assumed.")
    fs.string("config", "", "The configuration for the auth method. Must be JSON. May be "
              "prefixed with '@' to indicate that the value is a file path to load the "
              "config from. '-' may also be given to indicate that the config is available "
              "on stdin")
    fs.string("kubernetes-host", "", "Address of the Kubernetes API server. This flag is "
              "required for type=kubernetes.")
    fs.string("kubernetes-ca-cert", "", "PEM encoded CA cert for use by the TLS client used "
              "to talk with the Kubernetes API. May be prefixed with '@' to indicate that "
              "the value is a file path to load the cert from.")
    fs.string("kubernetes-service-account-jwt", "", "A Kubernetes service account JWT used "
              "to access the TokenReview API to validate other JWTs during login.")


def _config(ctx: Context, flag_word: str, parse_error: str) -> dict:
    """``-config`` as JSON; the -kubernetes-* flags may not come with it."""
    if any(ctx[flag] for flag in KUBERNETES):
        raise Failure(f"Cannot use command line arguments with '-config' {flag_word}")
    try:
        text = load_data(ctx["config"])
    except Failure as err:
        raise Failure(f"Error loading configuration file: {err}") from None
    try:
        return json.loads(text)
    except ValueError as err:
        raise Failure(f"{parse_error}: {err}") from None


def _ca_cert(ctx: Context) -> str:
    try:
        cert = load_data(ctx["kubernetes-ca-cert"])
    except Failure as err:
        raise Failure(f"Invalid '-kubernetes-ca-cert' value: {err}") from None
    if not cert:
        raise Failure("Kubernetes CA Cert is empty")
    return cert


def _kubernetes_config(ctx: Context) -> dict:
    """All three -kubernetes-* flags, required, as the method's Config."""
    for flag in KUBERNETES:
        if not ctx[flag]:
            raise Failure(f"Missing required '-{flag}' flag")
    return {key: _ca_cert(ctx) if flag == "kubernetes-ca-cert" else ctx[flag]
            for flag, key in KUBERNETES.items()}


def _fields(ctx: Context, method: dict, merge: bool) -> None:
    """The display name, description, token locality and max TTL flags onto ``method``
    (when ``merge``, only the non-empty ones, as Consul does)."""
    for flag, key in (("display-name", "DisplayName"), ("description", "Description"),
                      ("token-locality", "TokenLocality")):
        if ctx[flag] or not merge:
            method[key] = ctx[flag]
    if ttl := duration_flag(ctx, "max-token-ttl"):
        method["MaxTokenTTL"] = ttl


def auth_method_create(ctx: Context) -> int:
    if not ctx["type"]:
        raise Failure("Missing required '-type' flag")
    if not ctx["name"]:
        raise Failure("Missing required '-name' flag")
    method = {"Type": ctx["type"], "Name": ctx["name"]}
    _fields(ctx, method, merge=False)
    if ctx["config"]:
        method["Config"] = _config(ctx, "flags", "Error parsing JSON configuration file")
    if ctx["type"] == "kubernetes":
        method["Config"] = _kubernetes_config(ctx)
    return objects.save(ctx, AUTH_METHOD, method, "Failed to create new auth method", new=True)


AUTH_METHOD_CREATE = acl_command("""
Usage: proconsul acl auth-method create -name NAME -type TYPE [options]

  Create a new auth method:

    $ proconsul acl auth-method create -type "jwt" \\
                            -name "my-jwt" \\
                            -description "This is an example jwt method" \\
                            -config @jwt-config.json

  Create a kubernetes auth method:

    $ proconsul acl auth-method create -type "kubernetes" \\
                            -name "my-k8s" \\
                            -kubernetes-host "https://apiserver.example.com:8443" \\
                            -kubernetes-ca-cert @/path/to/kube.ca.crt \\
                            -kubernetes-service-account-jwt "JWT_CONTENTS"
""", "Create an ACL auth method", auth_method_create,
    lambda fs: (_method_fields(fs),
                fs.string("type", "", "The new auth method's type. This flag is required."),
                fs.string("name", "", "The new auth method's name. This flag is required.")))


def auth_method_read(ctx: Context) -> int:
    if not ctx["name"]:
        raise Failure("Must specify the -name parameter")
    method = objects.read(ctx, AUTH_METHOD, ctx["name"], by="name")
    return show(ctx, method, lambda: format_auth_method(method, ctx["meta"]))


AUTH_METHOD_READ = acl_command("""
Usage: proconsul acl auth-method read -name NAME [options]

  This command will retrieve and print out the details of a single auth method.

  Example:

    $ proconsul acl auth-method read -name my-auth-method
""", "Read an ACL auth method", auth_method_read,
    lambda fs: (objects.meta_flag(fs, AUTH_METHOD, RAFT),
                fs.string("name", "", "The name of the auth method to read.")))


def auth_method_update(ctx: Context) -> int:
    if not ctx["name"]:
        raise Failure("Cannot update an auth method without specifying the -name parameter")
    current = objects.read(ctx, AUTH_METHOD, ctx["name"], by="name",
                           failed="Error when retrieving current auth method")
    kubernetes = current.get("Type") == "kubernetes"
    parse_error = "Error parsing JSON for auth method config"
    if ctx["no-merge"]:
        method = {"Name": current["Name"], "Type": current["Type"]}
        _fields(ctx, method, merge=False)
        if ctx["config"]:
            method["Config"] = _config(ctx, "flag", parse_error)
        if kubernetes:
            method["Config"] = _kubernetes_config(ctx)
    else:
        method = current
        _fields(ctx, method, merge=True)
        if ctx["config"]:
            method["Config"] = _config(ctx, "flag", parse_error)  # replaced, not merged
        method["Config"] = method.get("Config") or {}
        if kubernetes:
            for flag, key in KUBERNETES.items():
                if ctx[flag]:
                    method["Config"][key] = _ca_cert(ctx) if key == "CACert" else ctx[flag]
    return objects.save(ctx, AUTH_METHOD, method, f'Error updating auth method "{ctx["name"]}"',
                        new=False)


AUTH_METHOD_UPDATE = acl_command("""
Usage: proconsul acl auth-method update -name NAME [options]

  Updates an auth method. By default it will merge the auth method
  information with its current state so that you do not have to provide all
  parameters. This behavior can be disabled by passing -no-merge.

  Update all editable fields of the auth method:

    $ proconsul acl auth-method update -name "my-jwt" \\
                            -display-name "JWT" \\
                            -description "This is an example jwt method" \\
                            -config @jwt-config.json
""", "Update an ACL auth method", auth_method_update,
    lambda fs: (_method_fields(fs),
                fs.string("name", "", "The auth method name."),
                fs.boolean("no-merge", False, "Do not merge the current auth method "
                           "information with what is provided to the command. Instead "
                           "overwrite all fields with the exception of the name which is "
                           "immutable.")))


def auth_method_delete(ctx: Context) -> int:
    if not ctx["name"]:
        raise Failure("Must specify the -name parameter")
    return objects.delete(ctx, AUTH_METHOD, ctx["name"])


AUTH_METHOD_DELETE = acl_command("""
Usage: proconsul acl auth-method delete -name NAME [options]

  Deletes an auth method by providing the name.

  Example:

    $ proconsul acl auth-method delete -name "my-auth-method"
""", "Delete an ACL auth method", auth_method_delete,
    lambda fs: fs.string("name", "", "The name of the auth method to delete."),
    formatted=False)


def auth_method_list(ctx: Context) -> int:
    return objects.list_all(ctx, AUTH_METHOD,
                            lambda m: format_auth_method(m, ctx["meta"], listing=True))


AUTH_METHOD_LIST = acl_command("""
Usage: proconsul acl auth-method list [options]

  List all auth methods:

    $ proconsul acl auth-method list
""", "List ACL auth methods", auth_method_list,
    lambda fs: objects.meta_flag(fs, AUTH_METHOD, RAFT))


# ---- binding rules ----------------------------------------------------------------------

def _rule_fields(fs: FlagSet, bind_type: str = "") -> None:
    """The binding rule's flags; only create defaults -bind-type (to ``service``)."""
    objects.meta_flag(fs, BINDING_RULE, RAFT)
    fs.string("description", "", "A description of the binding rule.")
    fs.string("selector", "", "Selector is an expression that matches against verified "
              "identity attributes returned from the auth method during login.")
    fs.string("bind-type", bind_type, "Type of binding to perform (service, node, role, "
              "policy or templated-policy).")
    fs.string("bind-name", "", "Name to bind on match. Can use ${var} interpolation. This "
              "flag is required.")
    fs.strings("bind-vars", "Templated policy variables. Can only be used when -bind-type "
               "is templated-policy. May be specified multiple times. Format is "
               "VariableName=Value")


def _apply_rule(ctx: Context, rule: dict, merge: bool) -> None:
    """The flags onto ``rule``; when ``merge``, only the non-empty ones, and -selector
    whenever given (an empty selector matches every identity)."""
    for flag, key in (("description", "Description"), ("selector", "Selector"),
                      ("bind-type", "BindType"), ("bind-name", "BindName")):
        if not merge or ctx[flag] or (flag == "selector" and flag in ctx.given):
            rule[key] = ctx[flag]
    if ctx["bind-vars"]:
        rule["BindVars"] = parse_map(ctx["bind-vars"])


def binding_rule_create(ctx: Context) -> int:
    if not ctx["method"]:
        raise Failure("Missing required '-method' flag")
    if not ctx["bind-type"]:
        raise Failure("Missing required '-bind-type' flag")
    if not ctx["bind-name"]:
        raise Failure("Missing required '-bind-name' flag")
    rule = {"AuthMethod": ctx["method"]}
    _apply_rule(ctx, rule, merge=False)
    return objects.save(ctx, BINDING_RULE, rule, "Failed to create new binding rule", new=True)


BINDING_RULE_CREATE = acl_command("""
Usage: proconsul acl binding-rule create [options]

  Create a new binding rule:

    $ proconsul acl binding-rule create \\
            -method=minikube \\
            -bind-type=service \\
            -bind-name='k8s-${serviceaccount.name}' \\
            -selector='serviceaccount.namespace==default and serviceaccount.name!=vault'
""", "Create an ACL binding rule", binding_rule_create,
    lambda fs: (_rule_fields(fs, "service"), fs.string("method", "", "The auth method's name for which "
                                            "this binding rule applies. This flag is "
                                            "required.")))


def _rule_id(ctx: Context, missing: str = "Must specify the -id parameter") -> str:
    if not ctx["id"]:
        raise Failure(missing)
    return objects.resolve(ctx, BINDING_RULE, ctx["id"])


def binding_rule_read(ctx: Context) -> int:
    rule = objects.read(ctx, BINDING_RULE, _rule_id(ctx, "Must specify the -id parameter."))
    return show(ctx, rule, lambda: format_binding_rule(rule, ctx["meta"]))


def _id_flag(verb: str):
    return lambda fs: objects.id_flag(fs, BINDING_RULE, verb)


BINDING_RULE_READ = acl_command("""
Usage: proconsul acl binding-rule read -id ID [options]

  This command will retrieve and print out the details of a single binding rule.

  Example:

    $ proconsul acl binding-rule read -id fdabbcb5-9de5-4b1a-961f-77214ae88cba
""", "Read an ACL binding rule", binding_rule_read,
    lambda fs: (objects.meta_flag(fs, BINDING_RULE, RAFT), _id_flag("read")(fs)))


def binding_rule_update(ctx: Context) -> int:
    rid = _rule_id(ctx, "Cannot update a binding rule without specifying the -id parameter")
    rule = objects.read(ctx, BINDING_RULE, rid,
                        failed="Error when retrieving current binding rule")
    if ctx["no-merge"]:
        for flag in ("bind-type", "bind-name"):
            if not ctx[flag]:
                raise Failure(f"Missing required '-{flag}' flag")
        rule = {"ID": rid, "AuthMethod": rule["AuthMethod"]}
    _apply_rule(ctx, rule, merge=not ctx["no-merge"])
    return objects.save(ctx, BINDING_RULE, rule, f'Error updating binding rule "{rid}"',
                        new=False)


BINDING_RULE_UPDATE = acl_command("""
Usage: proconsul acl binding-rule update -id ID [options]

  Updates a binding rule. By default it will merge the binding rule
  information with its current state so that you do not have to provide all
  parameters. This behavior can be disabled by passing -no-merge.

    $ proconsul acl binding-rule update -id=43cb72df-9c6f-4315-ac8a-01a9d98155ef \\
            -bind-name='k8s-${serviceaccount.name}'
""", "Update an ACL binding rule", binding_rule_update,
    lambda fs: (_rule_fields(fs), _id_flag("update")(fs),
                fs.boolean("no-merge", False, "Do not merge the current binding rule "
                           "information with what is provided to the command. Instead "
                           "overwrite all fields with the exception of the binding rule ID "
                           "which is immutable.")))


def binding_rule_delete(ctx: Context) -> int:
    return objects.delete(ctx, BINDING_RULE, _rule_id(ctx))


BINDING_RULE_DELETE = acl_command("""
Usage: proconsul acl binding-rule delete -id ID [options]

  Deletes an ACL binding rule by providing the ID or a unique ID prefix.

    $ proconsul acl binding-rule delete -id b6b85
""", "Delete an ACL binding rule", binding_rule_delete, _id_flag("delete"), formatted=False)


def binding_rule_list(ctx: Context) -> int:
    return objects.list_all(ctx, BINDING_RULE,
                            lambda r: format_binding_rule(r, ctx["meta"], listing=True),
                            auth_method=ctx["method"])


BINDING_RULE_LIST = acl_command("""
Usage: proconsul acl binding-rule list [options]

  Lists all the ACL binding rules.

    $ proconsul acl binding-rule list -method="my-method"
""", "List ACL binding rules", binding_rule_list,
    lambda fs: (objects.meta_flag(fs, BINDING_RULE, RAFT),
                fs.string("method", "", "Only show rules linked to the auth method with the "
                          "given name.")))


# ---- templated policies -----------------------------------------------------------------

def templated_policy_list(ctx: Context) -> int:
    try:
        templates, _ = acl_client(ctx).templated_policy_list(ctx.query_options())
    except ClientError as err:
        raise Failure(f"Failed to retrieve the templated policies list: {err}") from None
    if ctx["format"] == "json":
        ctx.info(dump(templates))
    else:
        ctx.info("".join(f"{name}\n" for name in sorted(templates)))
    return 0


TEMPLATED_POLICY_LIST = acl_command("""
Usage: proconsul acl templated-policy list [options]

  Lists all the ACL templated policies.

    $ proconsul acl templated-policy list
""", "Lists ACL templated policies", templated_policy_list)


def _template(ctx: Context) -> dict:
    if not ctx["name"]:
        raise Failure("Must specify the -name parameter")
    try:
        return acl_client(ctx).templated_policy_read(ctx["name"], ctx.query_options())[0]
    except APIError as err:
        if err.status == 404:
            raise Failure(f'Templated policy not found with name "{ctx["name"]}"') from None
        raise Failure(f'Error reading templated policy "{ctx["name"]}": {err}') from None
    except ClientError as err:
        raise Failure(f'Error reading templated policy "{ctx["name"]}": {err}') from None


def templated_policy_read(ctx: Context) -> int:
    template = _template(ctx)
    return show(ctx, template, lambda: format_templated_policy(template, ctx["meta"]))


TEMPLATED_POLICY_READ = acl_command("""
Usage: proconsul acl templated-policy read -name NAME [options]

  This command will retrieve and print out the details of a single templated policy.

    $ proconsul acl templated-policy read -name builtin/service
""", "Read an ACL templated policy", templated_policy_read,
    lambda fs: (fs.string("name", "", "The name of the templated policy to read."),
                fs.boolean("meta", False, "Indicates that templated policy metadata such as "
                           "the schema and template code should be shown for each entry.")))


def templated_policy_preview(ctx: Context) -> int:
    _template(ctx)
    variables: dict = {}
    if ctx["file"]:
        text = load_data(ctx["file"] if ctx["file"].startswith("@") else "@" + ctx["file"])
        try:
            variables = dict(json.loads(text).get("TemplateVariables") or {})
        except (ValueError, AttributeError) as err:
            raise Failure(f"Failed to decode the templated policy file: {err}") from None
    for var in ctx["var"]:
        key, sep, value = var.partition(":")
        if not sep:
            raise Failure(f'Malformed -var argument: "{var}", expecting VariableName:Value')
        variables[key] = value
    try:
        policy, _ = acl_client(ctx).templated_policy_preview(
            ctx["name"], {k.lower(): v for k, v in variables.items()})
    except ClientError as err:
        raise Failure(f"Failed to generate the templated policy preview: {err}") from None
    return show(ctx, policy, lambda: format_policy(policy, False))


TEMPLATED_POLICY_PREVIEW = acl_command("""
Usage: proconsul acl templated-policy preview [options]

  Preview the policy a templated policy renders to, for the given variables:

    $ proconsul acl templated-policy preview -name "builtin/service" -var "name:api"
""", "Preview the policy rendered by the ACL templated policy", templated_policy_preview,
    lambda fs: (fs.string("name", "", "The name of the templated policy to preview."),
                fs.strings("var", "Templated policy variables. Format is "
                           "VariableName:Value"),
                fs.string("file", "", "A file holding the templated policy's variables "
                          "(JSON with TemplateVariables).")))


# ---- login / logout ---------------------------------------------------------------------

def _login_flags(fs: FlagSet) -> None:
    fs.string("method", "", "Name of the auth method to login to.")
    fs.string("bearer-token-file", "", "Path to a file containing a secret bearer token to "
              "use with this auth method.")
    fs.string("token-sink-file", "", "The most recent token's SecretID is kept up to date "
              "in this file.")
    fs.strings("meta", "Metadata to set on the token, formatted as key=value. This flag may "
               "be specified multiple times to set multiple meta fields.")


def login(ctx: Context) -> int:
    if ctx.args:
        raise Failure("Should have no non-flag arguments.")
    if not ctx["method"]:
        raise Failure("Missing required '-method' flag")
    if not ctx["token-sink-file"]:
        raise Failure("Missing required '-token-sink-file' flag")
    if not ctx["bearer-token-file"]:
        raise Failure("Missing required '-bearer-token-file' flag")
    try:
        with open(ctx["bearer-token-file"], encoding="utf-8") as f:
            bearer = f.read().strip()
    except OSError as err:
        raise Failure(f"Error reading bearer token file: {err}") from None
    if not bearer:
        raise Failure(f"No bearer token found in {ctx['bearer-token-file']}")
    auth = {"AuthMethod": ctx["method"], "BearerToken": bearer}
    if ctx["meta"]:
        auth["Meta"] = parse_map(ctx["meta"])
    try:
        token, _ = acl_client(ctx).login(auth)
    except ClientError as err:
        raise Failure(f"Error logging in: {err}") from None
    sink = ctx["token-sink-file"]
    try:
        fd = os.open(sink + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token["SecretID"])
        os.replace(sink + ".tmp", sink)
    except OSError as err:
        raise Failure(f"Error writing token to file sink: {err}") from None
    return 0


LOGIN = acl_command("""
Usage: proconsul login [options]

  The login command will exchange the provided third party credentials with the
  requested auth method for a newly minted Consul ACL token. The companion
  command 'proconsul logout' should be used to destroy any tokens created this
  way to avoid a resource leak.
""", "Login to Consul using an auth method", login, _login_flags, formatted=False)


def logout(ctx: Context) -> int:
    if ctx.args:
        raise Failure("Should have no non-flag arguments.")
    try:
        acl_client(ctx).logout()
    except ClientError as err:
        raise Failure(f"Error destroying token: {err}") from None
    return 0


LOGOUT = acl_command("""
Usage: proconsul logout [options]

  The logout command will destroy the provided token if it was created from
  'proconsul login'.
""", "Destroy a Consul token created with login", logout, formatted=False)
