"""How many onnxruntime threads a call gets: a short query one (no hand-off to the pool), a long
text or a batch every core the process may use (on Lambda, what its memory buys), from a
crossover measured per CPU; the vectors are the same either way."""

from __future__ import annotations

import numpy as np
import pytest

from handler.model import BATCH_ROWS, CROSSOVER_TOKENS, DEFAULT_BATCH_ROWS, DEFAULT_CROSSOVER, Encoder, batch_rows, cpu_kind, crossover_tokens, usable_cores

AMD_AVX2 = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma\n"
INTEL_VNNI = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_vnni\n"
AMD_VNNI = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_vnni\n"


def test_lambda_gets_the_cores_its_memory_buys_never_the_cpus_it_lists():
    assert usable_cores(lambda_memory_mb="1769", affinity=2) == 1
    assert usable_cores(lambda_memory_mb="512", affinity=2) == 1  # a share of one vCPU: one thread
    assert usable_cores(lambda_memory_mb="3538", affinity=2) == 2
    assert usable_cores(lambda_memory_mb="10240", affinity=6) == 5
    assert usable_cores(lambda_memory_mb="", affinity=2) == 2  # not Lambda: the affinity (taskset, cpuset)
    assert usable_cores(lambda_memory_mb="", affinity=1) == 1


def test_the_crossover_comes_from_the_table_of_the_cpu_measured():
    assert cpu_kind(AMD_AVX2) == ("AuthenticAMD", "avx2") and cpu_kind(INTEL_VNNI) == ("GenuineIntel", "avx512_vnni")
    assert crossover_tokens("int8_unsigned", AMD_AVX2) == CROSSOVER_TOKENS["AuthenticAMD", "avx2"]["int8_unsigned"]
    assert crossover_tokens("int8", AMD_VNNI) == CROSSOVER_TOKENS["AuthenticAMD", "avx512_vnni"]["int8"] != DEFAULT_CROSSOVER
    assert crossover_tokens("int8", INTEL_VNNI) == CROSSOVER_TOKENS["GenuineIntel", "avx512_vnni"]["int8"] != DEFAULT_CROSSOVER
    intel_avx2 = INTEL_VNNI.replace(" avx512f avx512_vnni", "")
    assert crossover_tokens("int8", intel_avx2) == DEFAULT_CROSSOVER  # a CPU not measured: the default
    assert crossover_tokens("int8_unsigned", INTEL_VNNI) == DEFAULT_CROSSOVER  # a variant not measured on a CPU that was
    assert crossover_tokens("int8_unsigned", AMD_VNNI) == DEFAULT_CROSSOVER  # a variant not measured on a CPU that was


def test_bench_tokens_finds_the_crossover_in_its_medians():
    from scripts.bench_tokens import crossover

    counts = [3, 8, 16, 32, 64]
    one = [1.0, 2.0, 3.0, 5.0, 9.0]
    assert crossover([1.5, 2.5, 2.9, 4.0, 6.0], one, counts) == 16
    assert crossover([1.5, 1.9, 3.5, 4.0, 6.0], one, counts) == 32  # a win below a loss does not count
    assert crossover([1.5, 2.5, 3.5, 6.0, 9.5], one, counts) is None


def test_a_short_query_runs_on_one_thread_and_a_long_one_on_all(model_dir):
    encoder = Encoder.from_export(model_dir, threads=2, verify="size")
    short, long = encoder.wide_from - 1, encoder.wide_from
    assert encoder.session_for(short).get_session_options().intra_op_num_threads == 1
    assert encoder.session_for(long) is encoder.session and encoder.session.get_session_options().intra_op_num_threads == 2
    assert encoder.session_for(long, wide=False) is encoder.session_for(short)  # another call runs beside it: one core
    text = "vegan food delivery in berlin and beyond, " * 20
    assert np.array_equal(encoder.embed_one(text), encoder.embed_one(text, wide=False))  # the thread count never changes a vector
    assert np.array_equal(encoder.embed(["a", "b c"]), encoder.embed(["a", "b c"], wide=False))


def test_one_thread_means_one_session(model_dir):
    encoder = Encoder.from_export(model_dir, threads=1, verify="size")
    assert encoder.wide_from == 0 and encoder.narrow is encoder.session
    assert encoder.session_for(10_000) is encoder.session


@pytest.mark.parametrize("memory, threads", [("1769", 1), ("3538", 2)])
def test_the_service_runs_one_query_per_core(model_dir, monkeypatch, memory, threads):
    """Lambda at 1,769 MB: one thread, one session; with two cores, two queries at once (the Worker's threads)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    encoder = Encoder.from_export(model_dir, verify="size")
    assert encoder.threads == threads and encoder.session.get_session_options().intra_op_num_threads == threads
    from handler.search import SearchService
    from tests.support.helpers import make_settings

    assert SearchService(make_settings("model", "qdrant"), encoder, storage=None).model_threads == threads


def test_bulk_batches_take_the_size_measured_on_the_cpu_and_32_elsewhere():
    assert batch_rows(INTEL_VNNI) == BATCH_ROWS["GenuineIntel", "avx512_vnni"] == 8
    assert batch_rows(AMD_AVX2) == DEFAULT_BATCH_ROWS == 32  # not measured: sentence-transformers' default


def test_an_encoder_takes_this_cpu_s_batch_size_unless_told(model_dir):
    assert Encoder.from_export(model_dir, "fp32", verify="size").batch_size == batch_rows()  # none given: this CPU's
    assert Encoder.from_export(model_dir, "fp32", batch_size=5, verify="size").batch_size == 5


def test_the_service_embeds_a_micro_batch_of_queries_in_one_call(service):
    """Bulk's per-CPU size is not the service's: the worker hands up to 16 queries to one call."""
    from handler.web.runners import Worker

    assert service.encoder.batch_size == DEFAULT_BATCH_ROWS >= Worker.__init__.__kwdefaults__["max_batch"]
