"""The data sandbox: differentially private aggregates for brands, charged to their ε budget."""
