"""The workflow format: typed models (schema), the YAML loader with line-numbered errors
(loader), templates and conditions. `rillet.workflow.loader.load_workflow` is the entry."""
