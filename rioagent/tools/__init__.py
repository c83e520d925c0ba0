"""Tool handlers. Each `tools/<name>.yaml` (what the model reads) names its handler here."""
