# bench/trace/trace.cmake -- the `trace` suite (bench/README.md, section
# trace): the recorder's cost (PYMM_TRACE) on C workloads, beside heaptrack.
# Its driver trace_suite.c joins pymm_bench; its worker pymm-bench-trace-pymm
# (trace_worker.c, the allocate/free mix) is built and installed with the
# other workers. binary-trees is the objects suite's worker. heaptrack is
# looked up on PATH when the suite runs (skipped with a note when absent).

pmb_worker(pymm-bench-trace-pymm ${CMAKE_CURRENT_LIST_DIR}/trace_worker.c)
target_link_libraries(pymm-bench-trace-pymm PRIVATE pymm_static)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/trace_suite.c)
