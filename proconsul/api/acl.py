"""``/v1/acl`` and ``/v1/agent/token``: Consul's ``api.ACL`` (tokens, policies, roles, auth
methods, binding rules, templated policies, login) with JSON objects as plain dicts."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from proconsul.api.options import QueryMeta, QueryOptions, WriteMeta, WriteOptions

Obj = dict[str, Any]


def _seg(value: str) -> str:
    """One path segment, escaped (IDs and names may hold ``/``)."""
    return quote(value, safe="")


class ACL:
    def __init__(self, client) -> None:
        self.c = client

    # -- bootstrap and replication ------------------------------------------------
    def bootstrap(self, secret: str = "", w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        """``PUT /v1/acl/bootstrap``; ``secret`` chooses the management token's SecretID."""
        return self.c.write("PUT", "/v1/acl/bootstrap",
                            {"BootstrapSecret": secret} if secret else None, w)

    def replication(self, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query("/v1/acl/replication", q)

    # -- tokens -------------------------------------------------------------------
    def token_create(self, token: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        return self.c.write("PUT", "/v1/acl/token", token, w)

    def token_update(self, token: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        accessor = token.get("AccessorID", "")
        if not accessor:
            raise ValueError("Must specify an AccessorID for Token Updating")
        return self.c.write("PUT", f"/v1/acl/token/{_seg(accessor)}", token, w)

    def token_clone(self, accessor: str, description: str = "",
                    w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not accessor:
            raise ValueError("Must specify a token AccessorID for Token Cloning")
        return self.c.write("PUT", f"/v1/acl/token/{_seg(accessor)}/clone",
                            {"Description": description}, w)

    def token_delete(self, accessor: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/acl/token/{_seg(accessor)}", w=w)[1]

    def token_read(self, accessor: str, q: QueryOptions | None = None,
                   expanded: bool = False) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/token/{_seg(accessor)}", q,
                            [("expanded", "")] if expanded else None)

    def token_read_self(self, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query("/v1/acl/token/self", q)

    def token_list(self, q: QueryOptions | None = None, *, policy: str = "", role: str = "",
                   auth_method: str = "", service_name: str = "") -> tuple[list[Obj], QueryMeta]:
        """``GET /v1/acl/tokens`` with Consul's filters (policy ID, role ID, auth method,
        service identity name)."""
        params = [(k, v) for k, v in (("policy", policy), ("role", role),
                                      ("authmethod", auth_method),
                                      ("servicename", service_name)) if v]
        return self.c.query("/v1/acl/tokens", q, params)

    # -- policies -----------------------------------------------------------------
    def policy_create(self, policy: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if policy.get("ID"):
            raise ValueError("Cannot specify an ID in Policy Creation")
        return self.c.write("PUT", "/v1/acl/policy", policy, w)

    def policy_update(self, policy: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not policy.get("ID"):
            raise ValueError("Must specify an ID in Policy Update")
        return self.c.write("PUT", f"/v1/acl/policy/{_seg(policy['ID'])}", policy, w)

    def policy_delete(self, policy_id: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/acl/policy/{_seg(policy_id)}", w=w)[1]

    def policy_read(self, policy_id: str, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/policy/{_seg(policy_id)}", q)

    def policy_read_by_name(self, name: str,
                            q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/policy/name/{_seg(name)}", q)

    def policy_list(self, q: QueryOptions | None = None) -> tuple[list[Obj], QueryMeta]:
        return self.c.query("/v1/acl/policies", q)

    # -- roles --------------------------------------------------------------------
    def role_create(self, role: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if role.get("ID"):
            raise ValueError("Cannot specify an ID in Role Creation")
        return self.c.write("PUT", "/v1/acl/role", role, w)

    def role_update(self, role: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not role.get("ID"):
            raise ValueError("Must specify an ID in Role Update")
        return self.c.write("PUT", f"/v1/acl/role/{_seg(role['ID'])}", role, w)

    def role_delete(self, role_id: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/acl/role/{_seg(role_id)}", w=w)[1]

    def role_read(self, role_id: str, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/role/{_seg(role_id)}", q)

    def role_read_by_name(self, name: str,
                          q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/role/name/{_seg(name)}", q)

    def role_list(self, q: QueryOptions | None = None, *,
                  policy: str = "") -> tuple[list[Obj], QueryMeta]:
        return self.c.query("/v1/acl/roles", q, [("policy", policy)] if policy else None)

    # -- auth methods -------------------------------------------------------------
    def auth_method_create(self, method: Obj,
                           w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not method.get("Name"):
            raise ValueError("Must specify a Name in Auth Method Creation")
        return self.c.write("PUT", "/v1/acl/auth-method", method, w)

    def auth_method_update(self, method: Obj,
                           w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not method.get("Name"):
            raise ValueError("Must specify a Name in Auth Method Update")
        return self.c.write("PUT", f"/v1/acl/auth-method/{_seg(method['Name'])}", method, w)

    def auth_method_delete(self, name: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/acl/auth-method/{_seg(name)}", w=w)[1]

    def auth_method_read(self, name: str, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/auth-method/{_seg(name)}", q)

    def auth_method_list(self, q: QueryOptions | None = None) -> tuple[list[Obj], QueryMeta]:
        return self.c.query("/v1/acl/auth-methods", q)

    # -- binding rules ------------------------------------------------------------
    def binding_rule_create(self, rule: Obj,
                            w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if rule.get("ID"):
            raise ValueError("Cannot specify an ID in Binding Rule Creation")
        return self.c.write("PUT", "/v1/acl/binding-rule", rule, w)

    def binding_rule_update(self, rule: Obj,
                            w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        if not rule.get("ID"):
            raise ValueError("Must specify an ID in Binding Rule Update")
        return self.c.write("PUT", f"/v1/acl/binding-rule/{_seg(rule['ID'])}", rule, w)

    def binding_rule_delete(self, rule_id: str, w: WriteOptions | None = None) -> WriteMeta:
        return self.c.write("DELETE", f"/v1/acl/binding-rule/{_seg(rule_id)}", w=w)[1]

    def binding_rule_read(self, rule_id: str,
                          q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/binding-rule/{_seg(rule_id)}", q)

    def binding_rule_list(self, q: QueryOptions | None = None, *,
                          auth_method: str = "") -> tuple[list[Obj], QueryMeta]:
        return self.c.query("/v1/acl/binding-rules", q,
                            [("authmethod", auth_method)] if auth_method else None)

    # -- templated policies -------------------------------------------------------
    def templated_policy_list(self, q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        """Every templated policy, keyed by name."""
        return self.c.query("/v1/acl/templated-policies", q)

    def templated_policy_read(self, name: str,
                              q: QueryOptions | None = None) -> tuple[Obj, QueryMeta]:
        return self.c.query(f"/v1/acl/templated-policy/name/{quote(name, safe='/')}", q)

    def templated_policy_preview(self, name: str, variables: Obj,
                                 w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        return self.c.write("POST", f"/v1/acl/templated-policy/preview/{quote(name, safe='/')}",
                            variables, w)

    # -- login --------------------------------------------------------------------
    def login(self, auth: Obj, w: WriteOptions | None = None) -> tuple[Obj, WriteMeta]:
        """``POST /v1/acl/login`` with ``{"AuthMethod", "BearerToken", "Meta"}``."""
        return self.c.write("POST", "/v1/acl/login", auth, w)

    def logout(self, w: WriteOptions | None = None) -> WriteMeta:
        """``POST /v1/acl/logout``: destroys the (login-created) token sent with it."""
        return self.c.write("POST", "/v1/acl/logout", w=w)[1]

    # -- the agent's token slots --------------------------------------------------
    def set_agent_token(self, slot: str, token: str,
                        w: WriteOptions | None = None) -> WriteMeta:
        """``PUT /v1/agent/token/:slot`` (default, agent, agent_recovery, replication,
        config_file_service_registration, dns, and Consul's older slot names)."""
        return self.c.write("PUT", f"/v1/agent/token/{_seg(slot)}", {"Token": token}, w)[1]
