# bench/gc.cmake -- the `gc` suite (bench/README.md, section gc): its driver
# gc_suite.c joins the pymm_bench library, and its pymm worker
# pymm-bench-gc-pymm (gc_worker.c) is built next to the pymm command, where
# the driver looks for it. The CPython side is bench/scripts/gc_bench.py,
# run by the real python3 the main CMakeLists.txt resolved (PMB_PYTHON3).
# Included from bench/CMakeLists.txt after the pymm_bench target exists.

add_executable(pymm-bench-gc-pymm gc_worker.c worker_status.c)
target_link_libraries(pymm-bench-gc-pymm PRIVATE pymm_static)
# Optimized whatever the build type, like the other workers: the graph
# building loops must not be what limits the numbers.
target_compile_options(pymm-bench-gc-pymm PRIVATE -O2)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/gc_suite.c)
# Whatever links the suites gets the worker built with it.
add_dependencies(pymm_bench pymm-bench-gc-pymm)
