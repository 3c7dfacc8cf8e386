"""Who a request acts for: the key's tenant, scopes and, for a supplier key, its party.

Every query a service makes is filtered by ``tenant_id``. Within the tenant:

- A key holding the platform or finance scope is tenant-wide, whatever party it names.
- A key holding only the supplier scope and naming a party (``party_id``) is bound to it: it
  sees and acts on that supplier's objects only. Another supplier's object is answered like
  one that does not exist (404); a request *naming* another supplier is ``403
  party_mismatch``, refused before anything is looked up, so it reveals nothing.
- A supplier key without a party (issued before party binding) is unbound: it acts for
  whichever supplier it names. Where a service needs that name is the service's rule
  (``supplier_filter``'s ``unbound_must_name``).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.http.errors import ApiError

# Scopes that make a key tenant-wide, whatever party it names.
TENANT_WIDE = frozenset({"platform", "finance"})


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    scopes: frozenset[str]
    key_name: str
    # A supplier key acts for one supplier: services show it only that supplier's objects.
    party_id: str | None = None
    key_id: str | None = None

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_name}"

    @property
    def tenant_wide(self) -> bool:
        return bool(self.scopes & TENANT_WIDE)

    @property
    def bound_party(self) -> str | None:
        """The supplier this key is confined to: its party, unless it is tenant-wide."""
        return None if self.tenant_wide else self.party_id

    def may_act_for(self, party_id: str) -> bool:
        """Whether the key may see and act on ``party_id``'s objects: False only for a key
        bound to another party (callers answer 404, not 403)."""
        bound = self.bound_party
        return bound is None or bound == party_id

    def acting_supplier(self, requested: str | None) -> str:
        """The supplier a request acts for, given the ``supplier_id`` it names (or None).

        A bound key acts for its party: it may omit the name, and naming another supplier
        is ``403 party_mismatch``. Any other key must name the supplier (``422
        supplier_id_required``); the service then checks the object is that supplier's.
        """
        bound = self.bound_party
        if bound is None:
            if not requested:
                raise ApiError(
                    422, "supplier_id_required", "supplier keys must name the supplier_id"
                )
            return requested
        if requested is not None and requested != bound:
            raise ApiError(403, "party_mismatch", "this API key acts for another supplier")
        return bound

    def supplier_filter(self, requested: str | None, *, unbound_must_name: bool) -> str | None:
        """The supplier a read or a list is confined to (None: every supplier of the tenant).

        A tenant-wide key gets what it asks for. A bound key gets its party (as in
        ``acting_supplier``): naming another supplier is refused rather than answered with
        nothing, so the caller learns its mistake. An unbound supplier key gets what it asks
        for too, unless ``unbound_must_name``: then it must name one, as when it acts.
        """
        if self.tenant_wide or (self.party_id is None and not unbound_must_name):
            return requested
        return self.acting_supplier(requested)
