"""The docstrings written under the experiment models' fields, read when they are needed.

They are the ``description`` of each property in the JSON Schema (``hchaos schema``) and the
explanation of a missing required field in an error message. pydantic can collect them at
class creation (``use_attribute_docstrings``), but it does so by reading and compiling the
source of every model: about a quarter of ``hchaos validate``'s time on a valid file, where
they are not needed at all. Read lazily here instead, once per class.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import textwrap
from collections.abc import Iterator

from pydantic import BaseModel


@functools.cache
def attribute_docstrings(cls: type) -> dict[str, str]:
    """``{field: docstring}`` for the string literals written right under an annotated field
    in ``cls``'s own body (PEP 257 attribute docstrings); ``{}`` if the source is unavailable."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found = {}
    for statement, following in itertools.pairwise(body):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def field_description(model: type[BaseModel], name: str) -> str | None:
    """The field's ``description=``, else the docstring under it (in ``model`` or a base)."""
    info = model.model_fields.get(name)
    if info is not None and info.description:
        return info.description
    for cls in model.__mro__:
        if (doc := attribute_docstrings(cls).get(name)) is not None:
            return doc
    return None


def describe_fields(root: type[BaseModel]) -> None:
    """Give every field of every model under ``root`` its docstring as ``description`` and
    rebuild the models, so that their JSON Schema carries the descriptions (idempotent)."""
    models = list(_models(root))
    for model in models:
        for name, info in model.model_fields.items():
            if not info.description and (doc := field_description(model, name)):
                info.description = doc
    # Leaves first, so that each model rebuilds over the already described ones.
    for model in reversed(models):
        model.model_rebuild(force=True)


def _models(root: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``root`` and every model its fields can hold, each once, parents before children."""
    seen: set[type] = set()
    queue: list[type] = [root]
    while queue:
        model = queue.pop(0)
        if model in seen or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        seen.add(model)
        yield model
        for info in model.model_fields.values():
            queue.extend(_classes_in(info.annotation))


def _classes_in(annotation: object) -> Iterator[type]:
    if isinstance(annotation, type):
        yield annotation
    for argument in getattr(annotation, "__args__", ()) or ():
        yield from _classes_in(argument)
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and hasattr(annotation, "__metadata__"):  # Annotated[...]
        yield from _classes_in(origin)
