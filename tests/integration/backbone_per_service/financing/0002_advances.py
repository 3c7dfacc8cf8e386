"""financing_0002, the service's own revision, after financing_0001."""

from tests.integration.backbone_per_service.today import borrow

revision = "financing_0002"
down_revision = "financing_0001"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("financing", "0002_advances")
