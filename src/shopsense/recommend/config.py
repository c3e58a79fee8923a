from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig

DEFAULT_EVENT_WEIGHTS = {"purchase": 4.0, "cart": 3.0, "click": 2.0, "view": 1.0, "rating": 2.0, "search": 0.0}


class TrendingConfig(ComponentConfig):
    half_life_days: float | None = Field(7.0, gt=0, description="popularity half-life; None = plain popularity (no decay)")
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))


class SimilarConfig(ComponentConfig):
    event_types: list[str] | None = Field(None, description="events that count as co-visits; None = all with an item")
    window: int = Field(5, ge=1, description="co-visit = within this many steps in the same session (or user history)")
    text_weight: float = Field(0.3, ge=0, le=1, description="blend: (1-w)*co-visitation + w*text-embedding cosine")
    history_items: int = Field(10, ge=1, description="most recent history items whose neighbours are summed")
    recency_decay: float = Field(0.8, gt=0, le=1, description="weight of the k-th most recent item: decay**k")


class CFConfig(ComponentConfig):
    algorithm: Literal["als", "bpr"] = "als"
    factors: int = Field(64, ge=2)
    regularization: float = Field(0.05, ge=0)
    iterations: int = Field(20, ge=1)
    alpha: float = Field(10.0, gt=0, description="ALS confidence scaling of the event weights")
    learning_rate: float = Field(0.01, gt=0, description="BPR only")
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    seed: int = 0


class SequentialConfig(ComponentConfig):
    """SASRec-style transformer; `text_features` picks the fused side information."""

    text_features: Literal["auto", "none", "attributes", "encoder"] = Field(
        "auto", description="none = ID-only SASRec; attributes = learned attribute-id embeddings; "
                            "encoder = pretrained text embedding (settings.text encoder), projected; "
                            "auto = attributes when items carry attribute_ids, else encoder")
    use_id: bool = True
    event_types: list[str] | None = None
    dim: int = Field(64, ge=8)
    max_len: int = Field(50, ge=2)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(1, ge=1)
    dropout: float = Field(0.5, ge=0, lt=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    loss: Literal["full", "sampled"] = "full"
    n_negatives: int = Field(1024, ge=1)
    align_alpha: float = Field(0.0, ge=0, description="L = L_rec + alpha * L_align (ID vs text InfoNCE)")
    id_dropout: float = Field(0.1, ge=0, lt=1, description="drop whole ID vectors in training so items are also "
                                                          "ranked from text alone; with the content channel 0.1 "
                                                          "beat 0.5 on cold validation targets (benchmarks/results)")
    cold_id: Literal["zero", "learned"] = Field(
        "learned", description="ID vector of an item that has none (never seen in training, or dropped by id_dropout): "
                            "zero, or one learned vector shared by all such items (calibrates the text-only path "
                            "against trained items)")
    text_loss: float = Field(1.0, ge=0, description="weight of an extra full softmax over the text-only item table "
                                                    "(every item scored as if brand-new) so the user state also "
                                                    "finds the next item from text alone (better on cold "
                                                    "validation targets; doubles the output-layer training cost)")
    content_channel: bool = Field(True, description="add gain * cosine(mean fixed text/attribute vector of the last "
                                                     "content_window history items, item vector) to every score: "
                                                     "nothing item-specific is learned, so never-seen items are "
                                                     "scored like trained ones")
    content_window: int = Field(10, ge=1, description="history items averaged by the content channel")
    content_dim: int = Field(256, ge=8, description="content vectors above this size are reduced by SVD")
    calibrate_unseen: bool = Field(True, description="after training, fit one logit boost for items never seen in "
                                                      "training on the validation users: the largest boost whose "
                                                      "NDCG@10 over all of them is within calibrate_tolerance of the "
                                                      "best; needs >= 20 validation targets unseen in training, "
                                                      "else no boost")
    calibrate_tolerance: float = Field(0.01, ge=0, lt=1, description="relative validation NDCG@10 the new-item boost "
                                                                    "may cost (0 = best overall NDCG@10)")
    impute_unseen: bool = Field(False, description="after training, predict the ID vector of items never seen in "
                                                   "training from their text/attribute part (ridge map); measured "
                                                   "to help cold items less than id_dropout (benchmarks/results)")
    patience: int = Field(5, ge=1)
    time_budget_minutes: float = Field(15.0, gt=0)
    holdout_last: bool = Field(True, description="hold out each user's last item for early stopping")
    seed: int = 0


class RecommendConfig(ComponentConfig):
    """Settings of the recommend stage."""

    trending: TrendingConfig = Field(default_factory=TrendingConfig)
    similar: SimilarConfig = Field(default_factory=SimilarConfig)
    cf: CFConfig = Field(default_factory=CFConfig)
    sequential: SequentialConfig = Field(default_factory=SequentialConfig)
    personal: Literal["sequential", "cf"] = Field("sequential", description="model behind personal recommendations")
    exclude_seen: bool = Field(True, description="never recommend items already in the user's history")
    threads: int = Field(1, ge=1, description="torch intra-op threads for training and scoring (one is fastest on a busy small box)")
