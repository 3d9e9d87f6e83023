"""Field types shared by the APIs' request schemas."""

from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError


def _not_a_bool(value):
    # Pydantic's lax mode reads true as 1 (bool is an int in Python): `num_images: true` would be one image.
    if isinstance(value, bool):
        raise PydanticCustomError("number_not_bool", "Input should be a number, not true or false")
    return value


# Whole numbers and numbers in request bodies: as pydantic reads them ("3" is 3, 2.5 is refused), but
# never a boolean.
Integer = Annotated[int, BeforeValidator(_not_a_bool)]
Number = Annotated[float, BeforeValidator(_not_a_bool)]
