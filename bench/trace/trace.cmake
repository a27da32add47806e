# bench/trace/trace.cmake -- the `trace` suite (bench/README.md, section
# trace): the recorder's cost (PYMM_TRACE) on C workloads, beside heaptrack.
# Its driver trace_suite.c joins pymm_bench; its worker pymm-bench-trace-pymm
# (trace_worker.c, the allocate/free mix) and its malloc build are built and
# installed with the other workers. binary-trees is the objects suite's
# workers (pymm, built again as pymm-bench-trace-trees; malloc). heaptrack is
# looked up on PATH when the suite runs (skipped with a note when absent).
# The html-page case (trace_page.c) loads the HTML report of the worker's
# `stacks` capture in headless Chromium.

# The traced programs are built with frame pointers, the library too
# (pymm_static_fp): the issue's speed targets are for such builds, and a
# build without them is traced through libgcc's unwinder (docs/TRACING.md).
pmb_worker(pymm-bench-trace-pymm ${CMAKE_CURRENT_LIST_DIR}/trace_worker.c)
target_link_libraries(pymm-bench-trace-pymm PRIVATE pymm_static_fp)
# binary-trees: the objects suite's pymm worker, built again so.
pmb_add_objects_worker(trace-trees PYMM TREES)
set_target_properties(pymm-bench-objects-trace-trees PROPERTIES OUTPUT_NAME pymm-bench-trace-trees)
target_link_libraries(pymm-bench-objects-trace-trees PRIVATE pymm_static_fp)
foreach(t pymm-bench-trace-pymm pymm-bench-objects-trace-trees)
  target_compile_options(${t} PRIVATE -fno-omit-frame-pointer -momit-leaf-frame-pointer)
endforeach()
# heaptrack's program: the same mix on malloc/free (PYMM_MALLOC=malloc would
# not do: pymm's raw domain calls __libc_malloc, which heaptrack misses).
pmb_worker(pymm-bench-trace-malloc ${CMAKE_CURRENT_LIST_DIR}/trace_worker.c)
target_compile_definitions(pymm-bench-trace-malloc PRIVATE PMB_TRACE_MALLOC=1)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/trace_suite.c
  ${CMAKE_CURRENT_LIST_DIR}/trace_page.c)
# The html-page case drives Chromium with the browser tests' driver:
# tests/cli/cdp.py in a build tree, installed beside the bench scripts.
target_compile_definitions(pymm_bench PRIVATE
  PMB_CDP_PY="${PROJECT_SOURCE_DIR}/tests/cli/cdp.py")
install(FILES ${PROJECT_SOURCE_DIR}/tests/cli/cdp.py DESTINATION ${PMB_INSTALL_SCRIPTS})
