"""InferenceSession on the real .rknn files of shared/models (parsed by the simulator).

* ``get_inputs``/``get_outputs`` match ``ground_truth.json`` for every layout option;
* ``run`` returns the simulator's compute rule (sum of the inputs, quantised with the model's parameters)
  for every layout option;
* the two ``add`` models also match rknn-toolkit2's own simulator outputs (the rule *is* an add).
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from ztu_somemodelruntime_ez_rknn_async import InferenceSession, NodeArg
from ztu_somemodelruntime_ez_rknn_async.simulator import TensorSpec, expected_outputs

MODELS = ["add_i8.rknn", "add_fp16.rknn", "conv_i8.rknn", "two_out_i8.rknn", "fc_i8.rknn"]
LAYOUTS = ["nchw", "nchw_software", "nhwc", "any"]
QUERY_KEY = "expected_rknn_query (predicted, NOT observed on hardware)"


@pytest.fixture(scope="module")
def ground_truth(shared_dir: pathlib.Path) -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((shared_dir / "models" / "ground_truth.json").read_text())
    return data


def _type(attr: Dict[str, Any]) -> str:
    return str(attr["type"]).replace("RKNN_TENSOR_", "").lower()


def _ort(attr: Dict[str, Any]) -> str:
    t = _type(attr)
    return "tensor(float)" if t == "float32" else "tensor({})".format(t)


def _logical(attr: Dict[str, Any]) -> Tuple[int, ...]:
    d = tuple(attr["dims"])
    if attr["fmt"] == "RKNN_TENSOR_NHWC" and len(d) == 4:
        return (d[0], d[3], d[1], d[2])
    return d


def _spec(attr: Dict[str, Any]) -> TensorSpec:
    quant = attr["qnt_type"] == "RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC"
    return TensorSpec(attr["name"], _logical(attr), _type(attr), scale=attr["scale"] if quant else None,
                      zero_point=attr["zp"] if quant else 0)


def _specs(gt: Dict[str, Any], model: str) -> Tuple[List[TensorSpec], List[TensorSpec]]:
    q = gt[model][QUERY_KEY]
    return [_spec(a) for a in q["RKNN_QUERY_INPUT_ATTR"]], [_spec(a) for a in q["RKNN_QUERY_OUTPUT_ATTR"]]


def _path(shared_dir: pathlib.Path, model: str) -> pathlib.Path:
    return shared_dir / "models" / "rknn" / model


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("model", MODELS)
def test_node_args_match_ground_truth(shared_dir: pathlib.Path, ground_truth: Dict[str, Any], sim_library: str,
                                      model: str, layout: str) -> None:
    q = ground_truth[model][QUERY_KEY]
    with InferenceSession(_path(shared_dir, model), provider_options={"runtime_library": "simulator",
                                                                      "layout": layout}) as sess:
        want_in = [NodeArg(a["name"], list(_logical(a) if layout.startswith("nchw") else a["dims"]), _ort(a))
                   for a in q["RKNN_QUERY_INPUT_ATTR"]]
        assert sess.get_inputs() == want_in
        assert sess.get_outputs() == [NodeArg(a["name"], list(a["dims"]), "tensor(float)")
                                      for a in q["RKNN_QUERY_OUTPUT_ATTR"]]
        custom = q["RKNN_QUERY_CUSTOM_STRING"]
        assert sess.get_modelmeta().custom_metadata_map == ({"rknn_custom_string": custom} if custom else {})
        n = q["RKNN_QUERY_IN_OUT_NUM"]
        assert (len(sess.input_names), len(sess.output_names)) == (n["n_input"], n["n_output"])
        # native inputs are the runtime's NHWC (or 2-D) view
        assert [a.shape for a in sess.get_native_inputs()] == [list(a["dims"]) for a in q["RKNN_QUERY_INPUT_ATTR"]]


@pytest.mark.parametrize("model", MODELS)
def test_native_outputs_node_args(shared_dir: pathlib.Path, ground_truth: Dict[str, Any], sim_library: str,
                                  model: str) -> None:
    q = ground_truth[model][QUERY_KEY]
    with InferenceSession(_path(shared_dir, model), provider_options={"runtime_library": "simulator",
                                                                      "native_outputs": True}) as sess:
        assert [o.type for o in sess.get_outputs()] == [_ort(a) for a in q["RKNN_QUERY_OUTPUT_ATTR"]]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("model", MODELS)
def test_run_matches_compute_rule(shared_dir: pathlib.Path, ground_truth: Dict[str, Any], sim_library: str,
                                  model: str, layout: str) -> None:
    ins, outs = _specs(ground_truth, model)
    feeds = [np.load(str(shared_dir / "models" / "ref" / "{}.in{}.npy".format(model[:-5], i)))
             for i in range(len(ins))]
    want = expected_outputs(ins, outs, feeds)
    with InferenceSession(_path(shared_dir, model), provider_options={"runtime_library": "simulator",
                                                                      "layout": layout}) as sess:
        given = [np.ascontiguousarray(f.transpose(0, 2, 3, 1)) if f.ndim == 4 and layout in ("nhwc", "any") else f
                 for f in feeds]
        got = sess.run(None, dict(zip(sess.input_names, given)))
        native = sess.run(None, given, {"native_outputs": True})
    for g, w, n, spec in zip(got, want, native, outs):
        assert g.dtype == np.float32 and g.shape == w.shape
        tol = (spec.scale or 1e-3) * 1.01
        np.testing.assert_allclose(g, w, atol=tol)
        assert n.dtype == np.dtype(spec.dtype) and n.shape == w.shape
        if spec.scale is not None:
            np.testing.assert_allclose((n.astype(np.float32) - spec.zero_point) * spec.scale, g, atol=1e-6)


@pytest.mark.parametrize("model, atol", [("add_i8.rknn", 0.02), ("add_fp16.rknn", 2e-3)])
def test_add_models_match_toolkit_reference(shared_dir: pathlib.Path, sim_library: str, model: str,
                                            atol: float) -> None:
    ref = shared_dir / "models" / "ref"
    a, b = (np.load(str(ref / "{}.in{}.npy".format(model[:-5], i))) for i in range(2))
    want = np.load(str(ref / "{}.sim_out0.npy".format(model[:-5])))
    with InferenceSession(_path(shared_dir, model), provider_options={"runtime_library": "simulator"}) as sess:
        got = sess.run(["out_sum"], {"in_a": a, "in_b": b})[0]
    np.testing.assert_allclose(got, want, atol=atol)


def test_model_bytes_and_threads(shared_dir: pathlib.Path, sim_library: str) -> None:
    data = _path(shared_dir, "two_out_i8.rknn").read_bytes()
    x = np.load(str(shared_dir / "models" / "ref" / "two_out_i8.in0.npy"))
    with InferenceSession(data, provider_options={"runtime_library": "simulator", "schedule": [0, 1, 2]}) as sess:
        first = sess.run(None, [x])
        for _ in range(6):
            again = sess.run(["out_sig", "out_relu"], {"x": x})
            np.testing.assert_array_equal(again[0], first[1])
            np.testing.assert_array_equal(again[1], first[0])
