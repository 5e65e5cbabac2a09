"""Column types that behave identically on SQLite, PostgreSQL and MySQL/MariaDB.

- :class:`ExactText`: text of at most N bytes of UTF-8, compared and ordered by code
  point everywhere: ``COLLATE "C"`` on PostgreSQL, the UTF-8 bytes in ``VARBINARY(N)``
  on MySQL/MariaDB (whose default collations ignore case and trailing spaces), plain
  ``VARCHAR`` on SQLite.
- :class:`JSONDocument`: a JSON object with no size limit: ``JSONB`` on PostgreSQL,
  ``LONGTEXT`` on MySQL/MariaDB, ``TEXT`` on SQLite, serialised with orjson.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from sessionstore.entry import dumps_json, loads_json

__all__ = ["ExactText", "JSONDocument", "LongText"]

_MYSQL = ("mysql", "mariadb")


class ExactText(TypeDecorator[str]):
    """Text of at most ``length`` bytes of UTF-8, compared by code point everywhere."""

    impl = String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.VARCHAR(self.length, collation="C"))
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.VARBINARY(self.length))
        return dialect.type_descriptor(String(self.length))

    # Only MySQL needs a conversion (str <-> VARBINARY bytes). Elsewhere no processor at
    # all, so reading a page of rows costs no Python call per cell.
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name not in _MYSQL:
            return None
        return lambda value: None if value is None else value.encode()

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name not in _MYSQL:
            return None
        return lambda value: (
            bytes(value).decode() if isinstance(value, bytes | bytearray) else value
        )


class JSONDocument(TypeDecorator[Any]):
    """A JSON object column without the 64 KB limit of MySQL's TEXT."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: dict[str, Any] | bytes | None, dialect: Dialect) -> Any:
        # Values may arrive already encoded (bytes), so an entry is serialised once.
        if value is None or dialect.name == "postgresql":
            return value  # JSONB serialises with the engine's json_serializer
        if isinstance(value, bytes):
            return value.decode()
        return dumps_json(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        if isinstance(value, str | bytes):
            return loads_json(value)  # type: ignore[no-any-return]
        return value  # type: ignore[no-any-return]


class LongText(TypeDecorator[str]):
    """Text without a practical size limit: ``LONGTEXT`` on MySQL/MariaDB (whose
    ``TEXT`` stops at 64 KB), ``TEXT`` elsewhere."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(Text())
