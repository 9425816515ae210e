"""Mercato's tables, one module per domain (see shared DOMAIN.md)."""

from webapp.models.accounts import Account  # noqa: F401
from webapp.models.catalog import (  # noqa: F401
    MarketplaceProduct,
    MarketplaceProductTranslation,
    Product,
    ProductTranslation,
)
from webapp.models.catalog_feed import CatalogFeed, CatalogFeedFetch  # noqa: F401
from webapp.models.digital import DigitalPreOrder  # noqa: F401
from webapp.models.feeds import Feed, ScheduledJob  # noqa: F401
from webapp.models.fulfilment import (  # noqa: F401
    FulfilmentEvent,
    OrderAction,
    Shipment,
    ShipmentLine,
)
from webapp.models.keys import DigitalKey, DigitalKeyReveal, KeyPoolSettings  # noqa: F401
from webapp.models.mail import MailMessage, MailTemplate  # noqa: F401
from webapp.models.orders import (  # noqa: F401
    Order,
    OrderItem,
    OrderStatusHistory,
    ParkedOrder,
)
from webapp.models.outbound import AccountModeChange, OutboundCall  # noqa: F401
from webapp.models.pushes import PushDirty, PushState  # noqa: F401
from webapp.models.runs import Message, Run  # noqa: F401
from webapp.models.stock import (  # noqa: F401
    InventorySyncConfig,
    StockLevel,
    StockMovement,
    StoreStockSettings,
    Warehouse,
)
from webapp.models.stores import Store, User  # noqa: F401
from webapp.models.tokens import ApiToken  # noqa: F401
