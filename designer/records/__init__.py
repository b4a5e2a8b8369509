"""Records: the save pipeline (validate, classify, history, audit), lists and record pages."""
