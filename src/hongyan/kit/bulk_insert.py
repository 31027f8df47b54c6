"""Many rows into one table through the driver's executemany, with SQLAlchemy's own conversions.

Bulk materialization writes thousands of rows per transaction. Through the ORM's bulk insert
each row costs tens of microseconds of Python: per-row command collection, and one type
conversion call per value (UTC times, JSON, booleans). ``RowWriter`` keeps what SQLAlchemy
does and drops what it repeats: the INSERT is compiled once per dialect; values that are the
same for every row of a call (tenant, kind, status, times...) go through their column's bind
processor once per call; values that differ per row come ready for the driver (``bind``
converts one, for callers that cache conversions such as JSON per distinct value); the driver
gets plain tuples. What reaches the database is what SQLAlchemy would have sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    order: Callable[[tuple[Any, ...]], tuple[Any, ...]]  # (*varying, *constant) -> statement's
    processors: dict[str, Processor]
    defaulted: tuple[str, ...]  # columns not given, filled with their default


class RowWriter:
    """INSERTs of ``varying`` (per row, already bound) then ``constant`` (per call) columns."""

    def __init__(self, table: Table, *, varying: Sequence[str], constant: Sequence[str]) -> None:
        self.table = table
        self.varying = tuple(varying)
        self.constant = tuple(constant)
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        """The statement in the driver's paramstyle and each column's processor, per dialect."""
        found = self._compiled.get(dialect.name)
        if found is None:
            names = [*self.varying, *self.constant]
            stmt = insert(self.table).values({name: bindparam(name) for name in names})
            compiled = stmt.compile(dialect=dialect)
            # Columns with a Python-side default are in the statement too, given or not.
            defaulted = tuple(n for n in compiled.positiontup or () if n not in names)
            names += defaulted
            # The statement lists the columns in the table's order; rows are put in it.
            order = itemgetter(*(names.index(name) for name in compiled.positiontup or ()))
            processors: dict[str, Processor] = {
                name: cast(
                    Processor, self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                )
                for name in names
            }
            found = _Compiled(str(compiled), order, processors, defaulted)
            self._compiled[dialect.name] = found
        return found

    def _default(self, column: str) -> Any:
        """A column's Python-side default, as an INSERT without it would get."""
        default = self.table.c[column].default
        if default is None or not (default.is_scalar or default.is_callable):
            raise RuntimeError(f"{self.table.name}.{column}: no value and no usable default")
        arg: Any = getattr(default, "arg", None)
        return arg if default.is_scalar else arg(None)

    def bind(self, dialect: Dialect, column: str, value: Any) -> Any:
        """``value`` as the driver gets it for ``column`` (None stays None)."""
        processor = self._for(dialect).processors[column]
        return value if value is None or processor is None else processor(value)

    async def write(
        self,
        session: AsyncSession,
        *,
        constants: Mapping[str, Any],
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        """Insert ``rows`` (varying values, bound) each completed with ``constants``."""
        if not rows:
            return
        connection = await session.connection()
        dialect = connection.dialect
        compiled = self._for(dialect)
        fixed = tuple(self.bind(dialect, name, constants[name]) for name in self.constant)
        fixed += tuple(self.bind(dialect, name, self._default(name)) for name in compiled.defaulted)
        order = compiled.order
        await connection.exec_driver_sql(compiled.sql, [order((*row, *fixed)) for row in rows])
