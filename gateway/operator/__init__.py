"""The alliance operator's read-outs: the KPIs the alliance steers by."""
