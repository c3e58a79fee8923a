"""shopsense: product search and recommendations with pretrained language models fused into both.

Data flows through the sub-packages in this order:
ingest -> quality -> text -> index -> search / recommend -> rank -> serve -> evaluate.
Heavy dependencies (torch, sentence-transformers, bm25s, implicit, ...) are imported lazily inside
the functions that need them, so `import shopsense` stays cheap.
"""

__version__ = "0.1.0"
