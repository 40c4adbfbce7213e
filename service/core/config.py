"""service.core.config: the gateway's settings (shared with the workers, defined there)."""

from workers.settings import SHIPPED_MODELS, Settings, get_settings

__all__ = ["SHIPPED_MODELS", "Settings", "get_settings"]
