"""Exporters of the baked ELIR sampler for phones: one shared pipeline (`export.pipeline`) driving one package per
target (`python -m export.executorch`, `export.coreml`, `export.tflite`, listed in `export.registry`), the parity
gate table (`export.gates`) and the model card schema (`card.schema.json`, `export.card`).  Importing a target
package imports no SDK."""
