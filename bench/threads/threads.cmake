# bench/threads/threads.cmake -- the `threads` suite (bench/README.md): its
# driver (threads_suite.c) joins pymm_bench, and its workers, one executable
# per allocator, all from threads_worker.c selected by a define. The
# anchors (mimalloc, jemalloc) and pmb_allocator_workers are alloc.cmake's.

function(pmb_add_threads_worker impl define)
  set(t pymm-bench-threads-${impl})
  pmb_worker(${t} ${CMAKE_CURRENT_LIST_DIR}/threads_worker.c)
  target_compile_definitions(${t} PRIVATE PMB_IMPL_${define}=1)
  target_link_libraries(${t} PRIVATE Threads::Threads)
endfunction()

find_package(Threads REQUIRED)
pmb_allocator_workers(pmb_add_threads_worker pymm-bench-threads)

target_sources(pymm_bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/threads_suite.c)
