"""The simulated librknnrt must export exactly the vendor library's function set plus the rknn_sim_* controls.

A binding (or a plugin linked against librknnrt) that accidentally binds one of the simulator's internal
helpers would work here and fail on a board, so internal symbols must stay hidden.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from ztu_somemodelruntime_ez_rknn_async import simulator

# rknn-abi.md §2.1: the exported set (rknn_create_mem_from_mb_blk is declared by the vendor header only).
RKNN_FUNCTIONS = {
    "rknn_init", "rknn_dup_context", "rknn_destroy", "rknn_query", "rknn_inputs_set",
    "rknn_set_batch_core_num", "rknn_set_core_mask", "rknn_run", "rknn_wait", "rknn_outputs_get",
    "rknn_outputs_release", "rknn_create_mem_from_phys", "rknn_create_mem_from_fd", "rknn_create_mem",
    "rknn_create_mem2", "rknn_destroy_mem", "rknn_set_weight_mem", "rknn_set_internal_mem",
    "rknn_set_io_mem", "rknn_set_input_shape", "rknn_set_input_shapes", "rknn_mem_sync",
    "rknn_register_custom_ops", "rknn_custom_op_get_op_attr",
}
SIM_CONTROLS = {
    "rknn_sim_get_counter", "rknn_sim_list_counters", "rknn_sim_reset_counters", "rknn_sim_inject_fault",
    "rknn_sim_set_delay", "rknn_sim_hang_next_run", "rknn_sim_clear_faults", "rknn_sim_set_soc",
    "rknn_sim_set_latency_override", "rknn_sim_set_jitter", "rknn_sim_version", "rknn_sim_struct_layout",
}


@pytest.mark.skipif(shutil.which("nm") is None, reason="binutils' nm is needed to list dynamic symbols")
def test_exported_functions_are_exactly_the_runtime_set_plus_controls() -> None:
    listing = subprocess.run(
        ["nm", "-D", "--defined-only", simulator.library_path()],
        check=True, capture_output=True, text=True,
    ).stdout
    exported = {
        parts[2] for parts in (line.split() for line in listing.splitlines())
        if len(parts) == 3 and parts[1] in ("T", "W")
    }
    assert exported == RKNN_FUNCTIONS | SIM_CONTROLS
