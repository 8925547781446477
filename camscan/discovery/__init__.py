"""Discovery modules: one per protocol. Each has a pure parser (bytes in, records or a
ParseError out) apart from its socket code."""
