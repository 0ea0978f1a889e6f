"""Spark NLP transformer-embeddings zips of every family: the ``sparknlp_transformer``
loader plugin (:mod:`.loader`, imports nothing heavy) and its model (:mod:`.model`,
:class:`~modelhub.loaders.sparknlp.transformer.model.SparkNlpTransformerModel`)."""
