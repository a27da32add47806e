# bench/gc/gc.cmake -- the `gc` suite (bench/README.md, section gc): its
# driver gc_suite.c joins the pymm_bench library, and its pymm worker
# pymm-bench-gc-pymm (gc_worker.c) is built next to the pymm command and
# installed with the other workers, where the driver looks for it. The
# CPython side is bench/scripts/gc_bench.py, run by the real python3
# bench/CMakeLists.txt resolved (PMB_PYTHON3). Included from
# bench/CMakeLists.txt after pymm_bench and pmb_worker exist.

pmb_worker(pymm-bench-gc-pymm ${CMAKE_CURRENT_LIST_DIR}/gc_worker.c)
target_link_libraries(pymm-bench-gc-pymm PRIVATE pymm_static)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/gc_suite.c)
