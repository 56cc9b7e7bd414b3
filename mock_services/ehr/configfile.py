"""``--config FILE``: the same settings as the command-line flags, from a JSON or TOML file.

Keys are the flag names without the leading dashes, with ``-`` or ``_`` (``promote-after``
or ``promote_after``); values are strings, numbers or booleans (``sync-strict = true``;
``fencing = true`` means ``on``). The file is turned into command-line tokens placed
*before* the real command line, so argparse validates both the same way and a flag given on
the command line wins over the file. Unknown keys are errors naming the key.

TOML if the file name ends in ``.toml``, JSON if ``.json``; otherwise JSON is tried first.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path


class ConfigFileError(ValueError):
    """The file cannot be read or does not fit the flags; the message says where and why."""


def _load(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigFileError(f"cannot read {path}: {error.strerror or error}") from None
    if path.suffix == ".toml":
        loaders = [("TOML", tomllib.loads)]
    elif path.suffix == ".json":
        loaders = [("JSON", json.loads)]
    else:
        loaders = [("JSON", json.loads), ("TOML", tomllib.loads)]
    problems = []
    for kind, loader in loaders:
        try:
            return loader(text)
        except ValueError as error:  # JSONDecodeError and TOMLDecodeError are ValueErrors
            problems.append(f"not valid {kind} ({error})")
    raise ConfigFileError(f"{path}: " + "; ".join(problems))


def config_file_argv(path: Path, parser: argparse.ArgumentParser) -> list[str]:
    """Command-line tokens equivalent to the settings in ``path`` (see the module docstring)."""
    data = _load(path)
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a table of settings at the top level")
    options: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public API to list options
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--config"):
                options[option[2:]] = action
    argv: list[str] = []
    for key, value in data.items():
        name = str(key).replace("_", "-")
        found = options.get(name)
        if found is None:
            raise ConfigFileError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(options))})")
        action = found
        flag = f"--{name}"
        if action.nargs == 0:  # store_true
            if not isinstance(value, bool):
                raise ConfigFileError(f"{path}: {key!r} must be true or false, got {value!r}")
            if value:
                argv.append(flag)
        elif isinstance(value, bool):
            if action.choices is None or not {"on", "off"} <= set(action.choices):
                raise ConfigFileError(f"{path}: {key!r} takes a value, not {str(value).lower()}")
            argv += [flag, "on" if value else "off"]
        elif isinstance(value, str | int | float):
            argv += [flag, str(value)]
        else:
            raise ConfigFileError(f"{path}: {key!r} must be a string, number or boolean, got {type(value).__name__}")
    return argv
