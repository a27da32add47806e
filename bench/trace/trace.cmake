# bench/trace/trace.cmake -- the `trace` suite (bench/README.md, section
# trace): the recorder's cost (PYMM_TRACE) on C workloads, beside heaptrack.
# Its driver trace_suite.c joins pymm_bench; its worker pymm-bench-trace-pymm
# (trace_worker.c, the allocate/free mix) and its malloc build are built and
# installed with the other workers. binary-trees is the objects suite's
# workers (pymm, malloc). heaptrack is
# looked up on PATH when the suite runs (skipped with a note when absent).

pmb_worker(pymm-bench-trace-pymm ${CMAKE_CURRENT_LIST_DIR}/trace_worker.c)
target_link_libraries(pymm-bench-trace-pymm PRIVATE pymm_static)
# heaptrack's program: the same mix on malloc/free (PYMM_MALLOC=malloc would
# not do: pymm's raw domain calls __libc_malloc, which heaptrack misses).
pmb_worker(pymm-bench-trace-malloc ${CMAKE_CURRENT_LIST_DIR}/trace_worker.c)
target_compile_definitions(pymm-bench-trace-malloc PRIVATE PMB_TRACE_MALLOC=1)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/trace_suite.c)
