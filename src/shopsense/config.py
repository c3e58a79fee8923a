"""Shared base for every component's typed config (pydantic, unknown keys rejected)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict


class ComponentConfig(BaseModel):
    """Base of all component configs: unknown keys are an error, values are validated on set."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def fingerprint(self) -> str:
        """Short stable hash of the settings, stored beside models/indexes so they rebuild on change."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
