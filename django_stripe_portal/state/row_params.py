"""The parameters of one row's INSERT, made as Django's insert compiler makes them but
planned once per model and database: which values go as they are, which the database's
operations adapt, which need the compiler (``row_writes`` sends the statements).

``tests/test_single_statement.py`` compares what is made here with Django's compiler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    PositiveBigIntegerField,
    PositiveIntegerField,
    PositiveSmallIntegerField,
    SmallAutoField,
    SmallIntegerField,
    TextField,
)
from django.db.models.expressions import RawSQL


class _JSONText:
    """A JSON value already written as text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class _AsWritten(json.JSONEncoder):
    """The encoder Django's JSON adaptation is given for a :class:`_JSONText`: its text."""

    def encode(self, o: Any) -> str:
        return o.text if isinstance(o, _JSONText) else super().encode(o)


#: Field classes whose ``get_db_prep_save`` gives a value of this type back unchanged, on
#: every backend (``CharField.to_python`` keeps a ``str``); exact classes only, since a
#: subclass may convert. ``tests/test_single_statement.py`` compares with Django's compiler.
_UNCHANGED_TYPES: dict[type[Field[Any, Any]], type] = {CharField: str, TextField: str}

#: Per field of a model's INSERT: the field, its attname, the value type it sends unchanged
#: (None: ask the field; ``datetime``: an aware one goes to the database's operations
#: directly), whether it sends None unchanged, whether it has its own
#: ``pre_save`` (``auto_now``), and whether it has its own placeholder.
_FieldPlan = tuple[Any, str, type | None, bool, bool, bool]

#: Integer fields: an ``int`` goes as it is where the database's operations do not adapt
#: integers (``adapt_integerfield_value``: SQLite; PostgreSQL wraps them for psycopg).
_INTEGER_FIELDS = (
    IntegerField,
    BigIntegerField,
    SmallIntegerField,
    PositiveIntegerField,
    PositiveBigIntegerField,
    PositiveSmallIntegerField,
)
_AUTO_FIELDS = (AutoField, BigAutoField, SmallAutoField)

#: Django's own fields send None as SQL NULL (``JSONField`` too: JSON ``null`` takes
#: ``Value(None, JSONField())``); a field of another module may make something of it.
_DJANGO_FIELDS = "django.db.models.fields"


@cache
def insert_plan(model: type[Model]) -> tuple[list[Any], tuple[_FieldPlan, ...]]:
    """The fields an INSERT of ``model`` names, and how each one's value is prepared:
    worked out once per model, not once per row."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    plan = []
    for field in fields:
        unchanged = _UNCHANGED_TYPES.get(type(field))
        if type(field) is BooleanField and not field.null:
            unchanged = bool
        elif type(field) is DateTimeField:  # adapted by the database's operations alone
            unchanged = datetime
        elif type(field) in _INTEGER_FIELDS or (
            type(field) is ForeignKey and type(field.target_field) in _AUTO_FIELDS
        ):
            unchanged = int
        elif type(field) is JSONField:  # a dict or list goes to adapt_json_value directly
            unchanged = dict
        # A date field's own pre_save stamps auto_now(_add) fields and reads the rest as
        # Field.pre_save does: those are read directly.
        own_pre_save = type(field).pre_save is not Field.pre_save and not (
            type(field) in (DateField, DateTimeField)
            and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False)
        )
        own_placeholder = hasattr(field, "get_placeholder")
        none_as_is = type(field).__module__.startswith(_DJANGO_FIELDS) and not own_placeholder
        plan.append((field, field.attname, unchanged, none_as_is, own_pre_save, own_placeholder))
    return fields, tuple(plan)


#: Per field, :data:`_FieldPlan` for one class of database operations: the field, its
#: attname, the one value type it sends as it is there (None: none), whether it sends None
#: as it is there, then the value type, pre_save and placeholder of :data:`_FieldPlan`.
_ConnectionPlan = tuple[Any, str, type | None, bool, type | None, bool, bool]


_CONNECTION_PLANS: dict[tuple[type[Model], type[BaseDatabaseOperations]], tuple[Any, ...]] = {}


def connection_plan(
    model: type[Model], ops_type: type[BaseDatabaseOperations]
) -> tuple[_ConnectionPlan, ...]:
    """:func:`insert_plan` with what a database's operations send as given worked out
    once, so that a row's values are sorted with one type test each."""
    found = _CONNECTION_PLANS.get((model, ops_type))
    if found is not None:
        return found
    as_given, ints_as_is, _ = _operations_as_given(ops_type)
    plan = []
    _, fields = insert_plan(model)
    for field, attname, unchanged, none_as_is, own_pre_save, own_placeholder in fields:
        as_is = unchanged if unchanged in (str, bool) or (unchanged is int and ints_as_is) else None
        plan.append(
            (
                field,
                attname,
                as_is if as_given else None,
                none_as_is and as_given,
                unchanged,
                own_pre_save,
                own_placeholder,
            )
        )
    found = _CONNECTION_PLANS[(model, ops_type)] = tuple(plan)
    return found


def plain_params(
    plan: tuple[_ConnectionPlan, ...], row: Model, connection: Any, json_texts: Mapping[str, str]
) -> tuple[list[Any], tuple[tuple[str, str], ...], tuple[int, ...]] | None:
    """The parameters Django's insert compiler would make for ``row``, the text of each
    ``RawSQL`` value (by field) and where the parameters hold a ``json_texts`` text, or
    None when a value needs the compiler (another expression, a field with its own
    placeholder).

    A ``RawSQL`` compiles to its own text in parentheses and its parameters in place, so
    its text joins the shape: callers pass one compiled once (e.g. ``linking``'s visit),
    never text built per row."""
    ops: BaseDatabaseOperations = connection.ops
    sqlite_times = _operations_as_given(type(ops))[2]
    utc_text = sqlite_times and connection.timezone is UTC
    params: list[Any] = []
    raw_texts: tuple[tuple[str, str], ...] = ()
    as_text: tuple[int, ...] = ()
    for field, attname, as_is, none_as_is, unchanged, own_pre_save, own_placeholder in plan:
        value = field.pre_save(row, add=True) if own_pre_save else getattr(row, attname)
        kind = type(value)
        if (
            kind is as_is
            or (value is None and none_as_is)
            or (as_is is str and isinstance(value, str))  # e.g. a TextChoices member
        ):
            params.append(value)
            continue
        if kind is datetime and unchanged is datetime and value.tzinfo is not None:
            # What DateTimeField.get_db_prep_save makes of an aware datetime, less its steps;
            # on SQLite (UTC connection) a UTC one is its naive text, as make_naive makes it.
            if utc_text and value.tzinfo is UTC:
                params.append(value.isoformat(" ")[:-6])  # less its "+00:00"
            else:
                params.extend(
                    ops.modify_insert_params("%s", [ops.adapt_datetimefield_value(value)])
                )
            continue
        if unchanged is dict and (kind is dict or kind is list) and attname not in json_texts:
            # JSONField.get_db_prep_save of a dict or list, less its steps.
            params.extend(
                ops.modify_insert_params("%s", [ops.adapt_json_value(value, field.encoder)])
            )
            continue
        if type(value) is RawSQL and not own_placeholder:
            raw_texts += ((attname, value.sql),)
            params.extend(ops.modify_insert_params(f"({value.sql})", value.params))
            continue
        if own_placeholder or hasattr(value, "resolve_expression"):
            return None
        if attname in json_texts:
            as_text += (len(params),)
            params.append(ops.adapt_json_value(_JSONText(json_texts[attname]), _AsWritten))
            continue
        value = field.get_db_prep_save(value, connection=connection)
        if hasattr(value, "as_sql"):
            return None
        params.extend(ops.modify_insert_params("%s", [value]))
    return params, raw_texts, as_text


def aware_datetime_params(connection: Any, values: Sequence[datetime]) -> list[Any]:
    """Aware datetimes as the database's operations adapt them
    (``adapt_datetimefield_value``), less their steps for a UTC one on SQLite with a UTC
    connection: its naive text, as ``make_naive`` makes it (as :func:`plain_params`)."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.timezone is UTC and _operations_as_given(type(connection.ops))[2]:
        return [v.isoformat(" ")[:-6] if v.tzinfo is UTC else adapt(v) for v in values]
    return [adapt(value) for value in values]


#: Per class of database operations: :func:`_operations_as_given`'s answer.
_AS_GIVEN: dict[type[BaseDatabaseOperations], tuple[bool, bool, bool]] = {}


def _operations_as_given(ops_type: type[BaseDatabaseOperations]) -> tuple[bool, bool, bool]:
    """Whether a database's operations send insert parameters as given, integers as given,
    and aware datetimes as SQLite's own ``adapt_datetimefield_value`` does."""
    found = _AS_GIVEN.get(ops_type)
    if found is None:
        base = BaseDatabaseOperations
        found = _AS_GIVEN[ops_type] = (
            ops_type.modify_insert_params is base.modify_insert_params,
            ops_type.adapt_integerfield_value is base.adapt_integerfield_value
            and ops_type.validate_autopk_value is base.validate_autopk_value,
            ops_type.adapt_datetimefield_value.__module__
            == "django.db.backends.sqlite3.operations",
        )
    return found
