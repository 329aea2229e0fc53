"""Writers of the year's outputs: the handlingsplan and follow-up workbooks and the summary."""
