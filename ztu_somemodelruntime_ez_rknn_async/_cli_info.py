"""``ez-rknn info``: a model's inputs, outputs, native and raw attributes, custom string and SDK version.

:func:`collect_info` gathers a JSON-ready description from an open session (its public accessors only);
:func:`render_info` prints it as aligned tables or Markdown.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._cli_format import as_dict, fmt_shape, format_kv, format_table, heading, jsonable
from ._cli_session import (
    SessionConfig, check_model_path, close_session, open_session, runtime_description, session_sdk_version,
)

__all__ = ["cmd_info", "collect_info", "render_info"]

_logger = logging.getLogger(__name__)


def _node_dict(arg: Any) -> Dict[str, Any]:
    return {"name": str(arg.name), "type": str(arg.type), "shape": jsonable(list(arg.shape))}


_QNT_NAMES = {0: "none", 1: "dfp", 2: "affine"}


def _attr_dict(attr: Any) -> Dict[str, Any]:
    if hasattr(attr, "qnt_type") and hasattr(attr, "fmt") and hasattr(attr, "dims"):
        from .tensors import format_name, type_name

        qnt = int(attr.qnt_type)
        out: Dict[str, Any] = {
            "name": str(attr.name),
            "dims": [int(d) for d in attr.dims],
            "fmt": format_name(int(attr.fmt)),
            "type": type_name(int(attr.type)),
            "qnt": _QNT_NAMES.get(qnt, str(qnt)),
        }
        if qnt == 2:
            out["scale"] = float(attr.scale)
            out["zp"] = int(attr.zp)
        elif qnt == 1:
            out["fl"] = int(attr.fl)
        for k in ("size", "size_with_stride", "w_stride", "h_stride"):
            if hasattr(attr, k):
                out[k] = int(getattr(attr, k))
        return out
    if isinstance(attr, Mapping):
        return {str(k): jsonable(v) for k, v in attr.items()}
    if hasattr(attr, "name") and hasattr(attr, "type") and hasattr(attr, "shape") and not hasattr(
        attr, "__dataclass_fields__"
    ):
        return _node_dict(attr)
    return as_dict(attr)


def _call_list(session: Any, name: str) -> Optional[List[Any]]:
    method = getattr(session, name, None)
    if not callable(method):
        return None
    try:
        return list(method())
    except Exception as exc:  # noqa: BLE001 - optional extras must not break `info`
        _logger.debug("%s() failed: %s", name, exc)
        return None


def collect_info(session: Any, model: str) -> Dict[str, Any]:
    info: Dict[str, Any] = {"model": os.path.abspath(model)}
    info["inputs"] = [_node_dict(a) for a in session.get_inputs()]
    info["outputs"] = [_node_dict(a) for a in session.get_outputs()]
    for key, method in (("native_inputs", "get_native_inputs"), ("native_outputs", "get_native_outputs"),
                        ("input_attrs", "get_input_attrs"), ("output_attrs", "get_output_attrs")):
        items = _call_list(session, method)
        if items is not None:
            info[key] = [_attr_dict(a) for a in items]
    custom = ""
    meta_fn = getattr(session, "get_modelmeta", None)
    if callable(meta_fn):
        meta = meta_fn()
        cmap = dict(getattr(meta, "custom_metadata_map", {}) or {})
        custom = str(cmap.get("rknn_custom_string", ""))
        info["custom_metadata_map"] = {str(k): str(v) for k, v in cmap.items()}
    if not custom:
        value = getattr(session, "custom_string", None)
        if callable(value):
            value = value()
        if isinstance(value, str):
            custom = value
    info["custom_string"] = custom
    info["sdk_version"] = session_sdk_version(session)
    info["runtime"] = runtime_description(session)
    return info


def render_info(info: Mapping[str, Any], *, markdown: bool = False) -> str:
    out: List[str] = ["### ez-rknn info", ""] if markdown else []
    runtime = info.get("runtime", {})
    sdk = info.get("sdk_version", {})
    pairs: List[Tuple[str, object]] = [("model", info["model"])]
    if runtime:
        label = str(runtime.get("path", "?"))
        if runtime.get("is_simulator"):
            label += " (simulator)"
        pairs.append(("runtime", label))
    for k, v in sdk.items():
        pairs.append((k.replace("_", " "), v))
    pairs.append(("custom string", repr(info.get("custom_string", ""))))
    out.append(format_kv(pairs, markdown=markdown))
    for title, key in (("inputs", "inputs"), ("outputs", "outputs")):
        rows = [[i, a["name"], a["type"], fmt_shape(a["shape"])] for i, a in enumerate(info[key])]
        out.append("")
        out.append(heading(f"{title} (as the session accepts/returns them)", markdown))
        out.append(format_table(["#", "name", "type", "shape"], rows, indent="  ", markdown=markdown))
    for title, key in (("native inputs (zero-copy form)", "native_inputs"),
                       ("native outputs (zero-copy form)", "native_outputs"),
                       ("input attributes (rknn_query INPUT_ATTR)", "input_attrs"),
                       ("output attributes (rknn_query OUTPUT_ATTR)", "output_attrs")):
        items = info.get(key)
        if not items:
            continue
        cols = [c for c in _preferred_columns(items)]
        rows = [[i] + [_fmt_cell(a.get(c)) for c in cols] for i, a in enumerate(items)]
        out.append("")
        out.append(heading(title, markdown))
        out.append(format_table(["#"] + cols, rows, indent="  ", markdown=markdown))
    return "\n".join(out)


_ATTR_ORDER = ("name", "type", "dtype", "shape", "dims", "fmt", "layout", "qnt", "qnt_type", "scale", "zp", "fl",
               "zero_point", "size", "size_with_stride", "w_stride", "h_stride")


def _preferred_columns(items: Sequence[Mapping[str, Any]]) -> List[str]:
    keys: List[str] = []
    for item in items:
        for k in item:
            if k not in keys and k not in ("index", "n_dims", "n_elems"):
                keys.append(k)
    ordered = [k for k in _ATTR_ORDER if k in keys] + [k for k in keys if k not in _ATTR_ORDER]
    return ordered


def _fmt_cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return fmt_shape(value)
    return "" if value is None else str(value)


def cmd_info(args: argparse.Namespace) -> int:
    model = check_model_path(args.model)
    session = open_session(model, SessionConfig(runtime_library=args.runtime_library))
    try:
        info = collect_info(session, model)
    finally:
        close_session(session)
    if args.json:
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(render_info(info, markdown=args.markdown) + "\n")
    return 0
