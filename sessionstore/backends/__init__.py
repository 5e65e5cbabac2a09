"""One module per backend; each implements :class:`sessionstore.contract.SessionStore`."""
