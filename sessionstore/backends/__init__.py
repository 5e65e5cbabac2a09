"""One module per backend; each implements :class:`sessionstore.store.SessionStore`."""
