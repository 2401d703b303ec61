"""Framework backends, one folder each; each registers through the polyformer entry-point group."""
