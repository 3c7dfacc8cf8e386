"""ledger_backbone_0005: idempotency_keys.execution_id, completed_at (today.upgrade_0005)."""

from tests.integration.backbone_per_service.today import downgrade_0005 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0005 as upgrade

revision = "ledger_backbone_0005"
down_revision = "ledger_backbone_0004"
branch_labels = None
depends_on = None

__all__ = ["downgrade", "upgrade"]
