"""ACL tables: tokens, policies, roles, auth methods and binding rules.

Each table has its own index (``acl-tokens`` ...), so a blocking read of one
kind wakes on that kind only. :attr:`ACLMixin.acl_changes` counts every write
to any of them (and every restore), so a token resolver tells with one integer
comparison whether anything it compiled may have changed. Writes check what the state can check (unique names, links to
existing objects); the endpoints check the rest before proposing.

Stored tokens keep the policy/role links as written; reads answer them with
the linked objects' current names and without links to deleted objects, as
Consul's ``fixupTokenPolicyLinks`` does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from msgspec import UNSET
from msgspec.structs import replace

from proconsul.state.base import StoreBase, WriteTxn
from proconsul.state.catalog import StateError
from proconsul.state.snapshot import RecordKind
from proconsul.state.table import Table
from proconsul.state.watch import WatchSet
from proconsul.structs.acl import (
    ACLAuthMethod,
    ACLBindingRule,
    ACLLink,
    ACLPolicy,
    ACLRole,
    ACLToken,
)

TOKENS = "acl-tokens"
POLICIES = "acl-policies"
ROLES = "acl-roles"
AUTH_METHODS = "acl-auth-methods"
BINDING_RULES = "acl-binding-rules"
BOOTSTRAP = "acl-token-bootstrap"
ACL_INDEXES = (TOKENS, POLICIES, ROLES, AUTH_METHODS, BINDING_RULES)

ERR_BOOTSTRAP_NOT_ALLOWED = "ACL bootstrap no longer allowed"


class ACLMixin(StoreBase):
    """The replicated ACL objects, their indexes and blocking reads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.acl_tokens = Table("acl_tokens", lambda t: t.AccessorID,
                                {"secret": lambda t: t.SecretID,
                                 "authmethod": lambda t: t.AuthMethod or None,
                                 # tokens that can expire, by locality: what the reaper scans
                                 "expiring": lambda t: (t.Local if t.ExpirationTime is not UNSET
                                                        else None)})
        self.acl_policies = Table("acl_policies", lambda p: p.ID, {"name": lambda p: p.Name})
        self.acl_roles = Table("acl_roles", lambda r: r.ID, {"name": lambda r: r.Name})
        self.acl_auth_methods = Table("acl_auth_methods", lambda m: m.Name)
        self.acl_binding_rules = Table("acl_binding_rules", lambda b: b.ID,
                                       {"authmethod": lambda b: b.AuthMethod})
        self._tables += [self.acl_tokens, self.acl_policies, self.acl_roles,
                         self.acl_auth_methods, self.acl_binding_rules]
        # moves on every ACL write and restore (never back, not even on a rollback)
        self.acl_changes = 0

    def reset(self) -> None:
        super().reset()
        self.acl_changes += 1

    def acl_index(self) -> int:
        """The highest index of the ACL tables: any ACL write moves it."""
        return self.max_index(*ACL_INDEXES)

    # ---- snapshot ---------------------------------------------------------------

    def acl_snapshot_tables(self) -> list[tuple[RecordKind, list[Any]]]:
        return [(RecordKind.ACL_TOKEN, list(self.acl_tokens.rows())),
                (RecordKind.ACL_POLICY, list(self.acl_policies.rows())),
                (RecordKind.ACL_ROLE, list(self.acl_roles.rows())),
                (RecordKind.ACL_AUTH_METHOD, list(self.acl_auth_methods.rows())),
                (RecordKind.ACL_BINDING_RULE, list(self.acl_binding_rules.rows()))]

    def acl_restore_record(self, kind: RecordKind, row: Any) -> None:
        table = {RecordKind.ACL_TOKEN: self.acl_tokens, RecordKind.ACL_POLICY: self.acl_policies,
                 RecordKind.ACL_ROLE: self.acl_roles,
                 RecordKind.ACL_AUTH_METHOD: self.acl_auth_methods,
                 RecordKind.ACL_BINDING_RULE: self.acl_binding_rules}[kind]
        table.put(row)

    # ---- bootstrap --------------------------------------------------------------

    def acl_can_bootstrap(self) -> tuple[bool, int]:
        """(whether bootstrap is still allowed, the reset index if not)."""
        index = self.indexes.get(BOOTSTRAP)
        return (True, 0) if index is None else (False, index)

    def acl_bootstrap(self, tx: WriteTxn, reset_index: int, token: ACLToken) -> None:
        """Store the bootstrap token, once (or again with the current reset index)."""
        done = self.indexes.get(BOOTSTRAP)
        if done is not None:
            if reset_index == 0:
                raise StateError(f"{ERR_BOOTSTRAP_NOT_ALLOWED} (reset index: {done})")
            if reset_index != done:
                raise StateError(f"Invalid bootstrap reset index (specified {reset_index}, "
                                 f"reset index: {done})")
        self.acl_token_set(tx, token)
        tx.bump(BOOTSTRAP)

    # ---- tokens -----------------------------------------------------------------

    def acl_token_set(self, tx: WriteTxn, token: ACLToken, cas: bool = False,
                      allow_missing_links: bool = False) -> bool:
        """Insert or update a token; with ``cas`` only if its ModifyIndex still matches."""
        if not token.AccessorID:
            raise StateError("Missing token accessor ID")
        if not token.SecretID:
            raise StateError("Missing token secret ID")
        existing = self.acl_tokens.get(token.AccessorID)
        if cas and (existing.ModifyIndex if existing else 0) != token.ModifyIndex:
            return False
        holder = self.acl_tokens.by("secret", token.SecretID)
        if holder and holder[0].AccessorID != token.AccessorID:
            raise StateError("Invalid Token: SecretID is already in use")
        if existing is not None and existing.SecretID != token.SecretID:
            raise StateError("Changing a token's SecretID is not permitted")
        policies = self._resolve_links(token.Policies, self.acl_policies, "policy",
                                       allow_missing_links)
        roles = self._resolve_links(token.Roles, self.acl_roles, "role", allow_missing_links)
        if token.AuthMethod is not UNSET and self.acl_auth_methods.get(token.AuthMethod) is None:
            raise StateError(f"No such auth method with Name: {token.AuthMethod}")
        create = existing.CreateIndex if existing is not None else tx.index
        self.acl_tokens.put(replace(token, Policies=policies, Roles=roles, ExpirationTTL=UNSET,
                                    CreateIndex=create, ModifyIndex=tx.index), tx.undo)
        self._acl_bump(tx, TOKENS)
        return True

    def acl_token_delete(self, tx: WriteTxn, accessor_ids: Iterable[str]) -> None:
        deleted = False
        for accessor in accessor_ids:
            deleted |= self.acl_tokens.delete(accessor, tx.undo) is not None
        if deleted:
            self._acl_bump(tx, TOKENS)

    def acl_token_get(self, ws: WatchSet | None, accessor_id: str
                      ) -> tuple[int, ACLToken | None]:
        self._watch(ws, TOKENS)
        return self.max_index(TOKENS), self._fixup(self.acl_tokens.get(accessor_id))

    def acl_token_by_secret(self, ws: WatchSet | None, secret_id: str
                            ) -> tuple[int, ACLToken | None]:
        self._watch(ws, TOKENS)
        found = self.acl_tokens.by("secret", secret_id)
        return self.max_index(TOKENS), self._fixup(found[0] if found else None)

    def acl_token_list(self, ws: WatchSet | None, *, local: bool = True, glob: bool = True,
                       policy: str = "", role: str = "", auth_method: str = "",
                       service_name: str = "") -> tuple[int, list[ACLToken]]:
        """Tokens by AccessorID, narrowed by locality, a linked policy or role, the auth
        method that made them, or a service identity."""
        self._watch(ws, TOKENS)
        rows = (self.acl_tokens.by("authmethod", auth_method) if auth_method
                else self.acl_tokens.rows())
        out = []
        for token in rows:
            if not (local if token.Local else glob):
                continue
            if policy and not any(policy == link.ID for link in token.Policies or ()):
                continue
            if role and not any(role == link.ID for link in token.Roles or ()):
                continue
            if service_name and not any(s.ServiceName == service_name
                                        for s in token.ServiceIdentities or ()):
                continue
            out.append(self._fixup(token))
        out.sort(key=lambda t: t.AccessorID)
        return self.max_index(TOKENS), out

    def acl_tokens_expired(self, now: datetime, local: bool, limit: int) -> list[str]:
        """AccessorIDs of up to ``limit`` expired tokens (local or global ones)."""
        expired = [t.AccessorID for t in self.acl_tokens.by("expiring", local)
                   if t.is_expired(now)]
        return expired[:limit]

    # ---- policies ---------------------------------------------------------------

    def acl_policy_set(self, tx: WriteTxn, policy: ACLPolicy) -> None:
        if not policy.ID:
            raise StateError("Missing policy ID")
        if not policy.Name:
            raise StateError("Missing policy Name")
        named = self.acl_policies.by("name", policy.Name)
        if named and named[0].ID != policy.ID:
            raise StateError(f"Invalid Policy: A Policy with Name {_go_q(policy.Name)} "
                             "already exists")
        existing = self.acl_policies.get(policy.ID)
        create = existing.CreateIndex if existing is not None else tx.index
        self.acl_policies.put(replace(policy, CreateIndex=create, ModifyIndex=tx.index),
                              tx.undo)
        self._acl_bump(tx, POLICIES)

    def acl_policy_delete(self, tx: WriteTxn, policy_ids: Iterable[str]) -> None:
        deleted = False
        for policy_id in policy_ids:
            deleted |= self.acl_policies.delete(policy_id, tx.undo) is not None
        if deleted:
            self._acl_bump(tx, POLICIES)

    def acl_policy_get(self, ws: WatchSet | None, policy_id: str = "", name: str = ""
                       ) -> tuple[int, ACLPolicy | None]:
        self._watch(ws, POLICIES)
        if name:
            found = self.acl_policies.by("name", name)
            return self.max_index(POLICIES), found[0] if found else None
        return self.max_index(POLICIES), self.acl_policies.get(policy_id)

    def acl_policy_list(self, ws: WatchSet | None) -> tuple[int, list[ACLPolicy]]:
        self._watch(ws, POLICIES)
        return self.max_index(POLICIES), sorted(self.acl_policies.rows(), key=lambda p: p.ID)

    # ---- roles ------------------------------------------------------------------

    def acl_role_set(self, tx: WriteTxn, role: ACLRole, allow_missing_links: bool = False
                     ) -> None:
        if not role.ID:
            raise StateError("Missing role ID")
        if not role.Name:
            raise StateError("Missing role Name")
        named = self.acl_roles.by("name", role.Name)
        if named and named[0].ID != role.ID:
            raise StateError(f"Invalid Role: A Role with Name {_go_q(role.Name)} "
                             "already exists")
        policies = self._resolve_links(role.Policies, self.acl_policies, "policy",
                                       allow_missing_links)
        existing = self.acl_roles.get(role.ID)
        create = existing.CreateIndex if existing is not None else tx.index
        self.acl_roles.put(replace(role, Policies=policies, CreateIndex=create,
                                   ModifyIndex=tx.index), tx.undo)
        self._acl_bump(tx, ROLES)

    def acl_role_delete(self, tx: WriteTxn, role_ids: Iterable[str]) -> None:
        deleted = False
        for role_id in role_ids:
            deleted |= self.acl_roles.delete(role_id, tx.undo) is not None
        if deleted:
            self._acl_bump(tx, ROLES)

    def acl_role_get(self, ws: WatchSet | None, role_id: str = "", name: str = ""
                     ) -> tuple[int, ACLRole | None]:
        self._watch(ws, ROLES)
        if name:
            found = self.acl_roles.by("name", name)
            role = found[0] if found else None
        else:
            role = self.acl_roles.get(role_id)
        return self.max_index(ROLES), self._fixup(role)

    def acl_role_list(self, ws: WatchSet | None, policy: str = ""
                      ) -> tuple[int, list[ACLRole]]:
        self._watch(ws, ROLES)
        roles = [self._fixup(r) for r in self.acl_roles.rows()
                 if not policy or any(policy == link.ID for link in r.Policies or ())]
        return self.max_index(ROLES), sorted(roles, key=lambda r: r.ID)

    # ---- auth methods and binding rules -------------------------------------------

    def acl_auth_method_set(self, tx: WriteTxn, method: ACLAuthMethod) -> None:
        if not method.Name:
            raise StateError("Missing auth method Name")
        if not method.Type:
            raise StateError("Missing auth method Type")
        existing = self.acl_auth_methods.get(method.Name)
        create = existing.CreateIndex if existing is not None else tx.index
        self.acl_auth_methods.put(replace(method, CreateIndex=create, ModifyIndex=tx.index),
                                  tx.undo)
        self._acl_bump(tx, AUTH_METHODS)

    def acl_auth_method_delete(self, tx: WriteTxn, names: Iterable[str]) -> None:
        """Delete auth methods with their binding rules and the tokens they issued."""
        for name in names:
            if self.acl_auth_methods.delete(name, tx.undo) is None:
                continue
            self._acl_bump(tx, AUTH_METHODS)
            rules = [r.ID for r in self.acl_binding_rules.by("authmethod", name)]
            self.acl_binding_rule_delete(tx, rules)
            self.acl_token_delete(tx, [t.AccessorID
                                       for t in self.acl_tokens.by("authmethod", name)])

    def acl_auth_method_get(self, ws: WatchSet | None, name: str
                            ) -> tuple[int, ACLAuthMethod | None]:
        self._watch(ws, AUTH_METHODS)
        return self.max_index(AUTH_METHODS), self.acl_auth_methods.get(name)

    def acl_auth_method_list(self, ws: WatchSet | None) -> tuple[int, list[ACLAuthMethod]]:
        self._watch(ws, AUTH_METHODS)
        return self.max_index(AUTH_METHODS), sorted(self.acl_auth_methods.rows(),
                                                    key=lambda m: m.Name)

    def acl_binding_rule_set(self, tx: WriteTxn, rule: ACLBindingRule) -> None:
        if not rule.ID:
            raise StateError("Missing binding rule ID")
        if self.acl_auth_methods.get(rule.AuthMethod) is None:
            raise StateError(f"failed inserting acl binding rule: auth method not found: "
                             f"{rule.AuthMethod}")
        existing = self.acl_binding_rules.get(rule.ID)
        create = existing.CreateIndex if existing is not None else tx.index
        self.acl_binding_rules.put(replace(rule, CreateIndex=create, ModifyIndex=tx.index),
                                   tx.undo)
        self._acl_bump(tx, BINDING_RULES)

    def acl_binding_rule_delete(self, tx: WriteTxn, rule_ids: Iterable[str]) -> None:
        deleted = False
        for rule_id in rule_ids:
            deleted |= self.acl_binding_rules.delete(rule_id, tx.undo) is not None
        if deleted:
            self._acl_bump(tx, BINDING_RULES)

    def acl_binding_rule_get(self, ws: WatchSet | None, rule_id: str
                             ) -> tuple[int, ACLBindingRule | None]:
        self._watch(ws, BINDING_RULES)
        return self.max_index(BINDING_RULES), self.acl_binding_rules.get(rule_id)

    def acl_binding_rule_list(self, ws: WatchSet | None, auth_method: str = ""
                              ) -> tuple[int, list[ACLBindingRule]]:
        self._watch(ws, BINDING_RULES)
        rules = (self.acl_binding_rules.by("authmethod", auth_method) if auth_method
                 else list(self.acl_binding_rules.rows()))
        return self.max_index(BINDING_RULES), sorted(rules, key=lambda r: r.ID)

    # ---- helpers ----------------------------------------------------------------

    def _acl_bump(self, tx: WriteTxn, table: str) -> None:
        tx.bump(table)
        self.acl_changes += 1

    @staticmethod
    def _watch(ws: WatchSet | None, index: str) -> None:
        if ws is not None:
            ws.add(("index", index))

    def _resolve_links(self, links: Any, table: Table, kind: str, allow_missing: bool
                       ) -> Any:
        """Links with both ID and current Name; unknown IDs are an error unless allowed."""
        if not links:
            return links
        out = []
        for link in links:
            target = table.get(link.ID)
            if target is None:
                if not allow_missing:
                    raise StateError(f"No such {kind} with ID: {link.ID}")
                out.append(link)
            else:
                out.append(ACLLink(ID=target.ID, Name=target.Name))
        return out

    def _fixup(self, obj: Any) -> Any:
        """``obj`` with link names refreshed and links to deleted objects dropped."""
        if obj is None:
            return None
        changes = {}
        for field, table in (("Policies", self.acl_policies), ("Roles", self.acl_roles)):
            links = getattr(obj, field, UNSET)
            if not links:
                continue
            fixed = [ACLLink(ID=t.ID, Name=t.Name)
                     for t in (table.get(link.ID) for link in links) if t is not None]
            if fixed != links:
                changes[field] = fixed or UNSET
        return replace(obj, **changes) if changes else obj


def _go_q(text: str) -> str:
    """Go's ``%q`` for the plain names these messages quote."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
