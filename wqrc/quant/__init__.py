"""Weight schemes, exponent rules, activation formats, and Graph -> QModel."""
