"""financing_0004, the service's own revision, after financing_0002."""

from tests.integration.backbone_per_service.today import borrow

revision = "financing_0004"
down_revision = "financing_0003"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("financing", "0004_stripe_loose")
