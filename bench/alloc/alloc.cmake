# bench/alloc/alloc.cmake -- the `alloc` suite (bench/README.md): its
# driver (alloc_suite.c, alloc_table.c, alloc_python.c) joins pymm_bench,
# and its workers, one executable per allocator, all from alloc_worker.c
# selected by a define. Finds the allocator anchors (mimalloc, jemalloc;
# pymalloc from the python3-config bench/CMakeLists.txt ran). Included from
# bench/CMakeLists.txt after pymm_bench and pmb_worker exist.

# ---- The anchors ------------------------------------------------------------

pmb_find_anchor(MIMALLOC mimalloc.h mimalloc)
pmb_find_anchor(JEMALLOC jemalloc/jemalloc.h jemalloc)
check_include_file(valgrind/callgrind.h PMB_HAVE_CALLGRIND_H)

# Debian builds jemalloc without a symbol prefix (malloc, mallctl); a build
# configured --with-jemalloc-prefix=je_ exports je_malloc, je_mallctl.
if(PMB_HAVE_JEMALLOC)
  set(CMAKE_REQUIRED_INCLUDES ${PMB_JEMALLOC_INCLUDE_DIR})
  set(CMAKE_REQUIRED_LIBRARIES ${PMB_JEMALLOC_LIBRARY})
  check_symbol_exists(mallctl "jemalloc/jemalloc.h" PMB_JEMALLOC_UNPREFIXED)
  if(NOT PMB_JEMALLOC_UNPREFIXED)
    check_symbol_exists(je_mallctl "jemalloc/jemalloc.h" PMB_JEMALLOC_PREFIXED)
  endif()
  unset(CMAKE_REQUIRED_INCLUDES)
  unset(CMAKE_REQUIRED_LIBRARIES)
  if(NOT (PMB_JEMALLOC_UNPREFIXED OR PMB_JEMALLOC_PREFIXED))
    set(PMB_HAVE_JEMALLOC 0)
  endif()
endif()

message(STATUS "bench: mimalloc ${PMB_HAVE_MIMALLOC}, jemalloc ${PMB_HAVE_JEMALLOC}, "
  "pymalloc ${PMB_HAVE_PYMALLOC}, callgrind.h ${PMB_HAVE_CALLGRIND_H}, python3 '${PMB_PYTHON3}'")

# ---- The workers --------------------------------------------------------------

# pymm-bench-alloc-<impl> from alloc_worker.c with PMB_IMPL_<DEFINE>.
function(pmb_add_worker impl define)
  set(t pymm-bench-alloc-${impl})
  pmb_worker(${t} ${CMAKE_CURRENT_LIST_DIR}/alloc_worker.c)
  target_compile_definitions(${t} PRIVATE PMB_IMPL_${define}=1)
  if(PMB_HAVE_CALLGRIND_H)
    target_compile_definitions(${t} PRIVATE PMB_HAVE_CALLGRIND_H=1)
  endif()
endfunction()

# pmb_allocator_workers(FUNCTION PREFIX): FUNCTION(impl DEFINE) makes the
# worker PREFIX-<impl> of each allocator found (pymm, glibc, mimalloc,
# jemalloc), which this then links to its allocator. The threads suite
# builds its workers the same way.
macro(pmb_allocator_workers fn prefix)
  cmake_language(CALL ${fn} pymm PYMM)
  target_link_libraries(${prefix}-pymm PRIVATE pymm_static)
  cmake_language(CALL ${fn} glibc GLIBC)
  if(PMB_HAVE_MIMALLOC)
    cmake_language(CALL ${fn} mimalloc MIMALLOC)
    pmb_link_anchor(${prefix}-mimalloc MIMALLOC)
  endif()
  if(PMB_HAVE_JEMALLOC)
    cmake_language(CALL ${fn} jemalloc JEMALLOC)
    pmb_link_anchor(${prefix}-jemalloc JEMALLOC)
    if(PMB_JEMALLOC_PREFIXED)
      target_compile_definitions(${prefix}-jemalloc PRIVATE PMB_JEMALLOC_PREFIXED=1)
    endif()
  endif()
endmacro()

pmb_allocator_workers(pmb_add_worker pymm-bench-alloc)

if(PMB_HAVE_PYMALLOC)
  pmb_add_worker(pymalloc PYMALLOC)
  target_compile_options(pymm-bench-alloc-pymalloc PRIVATE ${PMB_PY_INCLUDES})
  # -L, -l and -Wl,-rpath as python3-config prints them (the rpath lets the
  # worker find pyenv's libpython without LD_LIBRARY_PATH).
  target_link_libraries(pymm-bench-alloc-pymalloc PRIVATE ${PMB_PY_LDFLAGS})
endif()

# ---- The driver ---------------------------------------------------------------

target_sources(pymm_bench PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/alloc_suite.c
  ${CMAKE_CURRENT_LIST_DIR}/alloc_python.c
  ${CMAKE_CURRENT_LIST_DIR}/alloc_table.c)
target_compile_definitions(pymm_bench PRIVATE
  PMB_HAVE_MIMALLOC=${PMB_HAVE_MIMALLOC}
  PMB_HAVE_JEMALLOC=${PMB_HAVE_JEMALLOC}
  PMB_HAVE_PYMALLOC=${PMB_HAVE_PYMALLOC}
  PMB_HAVE_CALLGRIND_H=$<BOOL:${PMB_HAVE_CALLGRIND_H}>
  # The libraries the drop-in columns preload into the glibc worker.
  PMB_MIMALLOC_SO="$<IF:${PMB_HAVE_MIMALLOC},${PMB_MIMALLOC_LIBRARY},>"
  PMB_JEMALLOC_SO="$<IF:${PMB_HAVE_JEMALLOC},${PMB_JEMALLOC_LIBRARY},>")
