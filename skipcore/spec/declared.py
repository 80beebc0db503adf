"""Spec classes that declare themselves: every model family, data set and probe is one pydantic class,
and that class is its entry in the spec (no name list anywhere).

`Declared` is the base of the three kinds (`_Model`, `_Data`, `_Probe`). A subclass whose
discriminator field (`TAG`: `family` or `name`) is a Literal joins its kind's `MEMBERS`, in
definition order, when the class is created; the spec's discriminated unions are built from
`MEMBERS` (`union`). A member that lacks one of its kind's `REQUIRED` declarations (class
attributes or methods, e.g. a model family's `estimate`) raises TypeError when its module is
imported, so a half-declared family, data set or probe never reaches a running service.
Classes without a Literal tag of their own are shared bases, not members.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class Declared(BaseModel):
    model_config = ConfigDict(extra="forbid")

    TAG: ClassVar[str]  # the discriminator field
    KIND: ClassVar[str]  # what a member is called in messages ("model family")
    REQUIRED: ClassVar[tuple[str, ...]] = ()  # what every member declares (class attributes, methods)
    MEMBERS: ClassVar[dict[str, type["Declared"]]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get(getattr(cls, "TAG", ""))
        if field is None or typing.get_origin(field.annotation) is not Literal:
            return  # a shared base
        tags = typing.get_args(field.annotation)
        missing = [name for name in cls.REQUIRED if getattr(cls, name, None) is None]
        if missing:
            raise TypeError(f"{cls.KIND} {', '.join(map(repr, tags))} ({cls.__name__}) declares no "
                            f"{', '.join(missing)}: every {cls.KIND} declares {', '.join(cls.REQUIRED)}")
        for tag in tags:
            if tag in cls.MEMBERS and cls.MEMBERS[tag].__qualname__ != cls.__qualname__:
                raise TypeError(f"{cls.KIND} {tag!r} is declared twice ({cls.MEMBERS[tag].__name__}, {cls.__name__})")
            cls.MEMBERS[tag] = cls


def union(base: type[Declared]) -> Any:
    """The discriminated union of `base`'s members (definition order), for a spec field."""
    members = tuple(dict.fromkeys(base.MEMBERS.values()))
    return Annotated[Union[members], Field(discriminator=base.TAG)]  # type: ignore[valid-type]


def names(base: type[Declared]) -> tuple[str, ...]:
    """Every member tag of `base`, sorted."""
    return tuple(sorted(base.MEMBERS))


def member(base: type[Declared], tag: str) -> type[Declared]:
    """The member class of `tag`; a ValueError naming the known tags when there is none."""
    if tag not in base.MEMBERS:
        raise ValueError(f"unknown {base.KIND} {tag!r}; known: {', '.join(names(base))}")
    return base.MEMBERS[tag]
