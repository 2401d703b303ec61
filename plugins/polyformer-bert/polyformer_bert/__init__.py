"""BERT for polyformer. Import classes from ``polyformer`` (``from polyformer import BertModel``)
or from the modules here; nothing is imported until it is used."""

__version__ = "0.1.0"
