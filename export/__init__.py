"""Exporters of the baked ELIR sampler for phones: one shared pipeline (`export.pipeline`), one module per target
(`python -m export.executorch`, `export.coreml`, `export.tflite`)."""
