"""Tools and the one module that touches SDK internals (`sdk`); the rest arrives with the tools package."""
