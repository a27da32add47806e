# bench/inspect/inspect.cmake -- the `inspect` suite (bench/README.md, section
# inspect): its driver inspect_suite.c joins the pymm_bench library, and its
# pymm worker pymm-bench-inspect-pymm (inspect_worker.c) is built next to the
# pymm command and installed with the other workers. The Python side is
# bench/scripts/inspect_bench.py, run by /usr/bin/python3 (Debian's
# python3-objgraph). Included from bench/CMakeLists.txt after pymm_bench and
# pmb_worker exist.

pmb_worker(pymm-bench-inspect-pymm ${CMAKE_CURRENT_LIST_DIR}/inspect_worker.c)
target_link_libraries(pymm-bench-inspect-pymm PRIVATE pymm_static)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/inspect_suite.c)
