"""Finding a mapping by built-in name or loading a user's mapping TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from dermset.model.builtin_mappings import BUILTIN
from dermset.model.mappings import MappingSpec, builtin_names


class MappingError(ValueError):
    pass


def load_mapping(name_or_path: str) -> MappingSpec:
    if name_or_path in BUILTIN:
        return BUILTIN[name_or_path]
    path = Path(name_or_path)
    if path.suffix.lower() == ".toml" or path.exists():
        if not path.is_file():
            raise MappingError(f"mapping file {path} not found")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(f"{path}: not valid TOML: {exc}") from None
        data.setdefault("name", path.stem)
        data["columns"] = {
            k: [v] if isinstance(v, str) else v for k, v in data.get("columns", {}).items()
        }
        try:
            return MappingSpec.model_validate(data)
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise MappingError(f"{path}: invalid mapping: {msgs}") from None
    raise MappingError(
        f"unknown mapping {name_or_path!r}; built-in mappings: {', '.join(builtin_names())}, "
        "or give a mapping .toml file"
    )
