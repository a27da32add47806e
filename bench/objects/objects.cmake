# bench/objects/objects.cmake -- the `objects` suite (bench/README.md): its
# driver (objects_suite.c, objects_table.c, objects_jsongen.c) joins
# pymm_bench, and its workers. Included from bench/CMakeLists.txt after
# alloc/alloc.cmake (the cpython-capi worker uses its python3-config flags).

# ---- The objects suite's workers ---------------------------------------------
# pymm-bench-objects-<impl> from objects_worker.c plus the workload files the
# impl takes part in (objects_trees.c, objects_json.c, objects_dict.c); see
# pmb_objw.h. An anchor CMake cannot find gets no worker (skipped with a note).

pmb_find_anchor(BOEHM gc.h gc)
pmb_find_anchor(JANSSON jansson.h jansson)
pmb_find_anchor(CJSON cjson/cJSON.h cjson)
# The public JSON corpora, read in place (json-twitter, ...); skipped when absent.
set(PMB_JSON_CORPUS_DIR ${PROJECT_SOURCE_DIR}/../shared/data/json)
message(STATUS "bench objects: boehm ${PMB_HAVE_BOEHM}, jansson ${PMB_HAVE_JANSSON}, "
  "cjson ${PMB_HAVE_CJSON}, cpython-capi ${PMB_HAVE_PYMALLOC}")

# pmb_add_objects_worker(impl DEFINE WORKLOAD...) with WORKLOAD in TREES JSON DICT.
# (the trace suite builds one too: the directory is this file's)
set(PMB_OBJECTS_DIR ${CMAKE_CURRENT_LIST_DIR})
function(pmb_add_objects_worker impl define)
  set(t pymm-bench-objects-${impl})
  set(srcs ${PMB_OBJECTS_DIR}/objects_worker.c)
  set(defs PMB_IMPL_${define}=1)
  foreach(w ${ARGN})
    string(TOLOWER ${w} lw)
    list(APPEND srcs ${PMB_OBJECTS_DIR}/objects_${lw}.c)
    list(APPEND defs PMB_W_${w}=1)
  endforeach()
  pmb_worker(${t} ${srcs})
  target_compile_definitions(${t} PRIVATE ${defs})
endfunction()

pmb_add_objects_worker(pymm PYMM TREES JSON DICT)
target_link_libraries(pymm-bench-objects-pymm PRIVATE pymm_static)

pmb_add_objects_worker(malloc MALLOC TREES)

if(PMB_HAVE_BOEHM)
  pmb_add_objects_worker(boehm BOEHM TREES)
  pmb_link_anchor(pymm-bench-objects-boehm BOEHM)
endif()

if(PMB_HAVE_JANSSON)
  pmb_add_objects_worker(jansson JANSSON JSON)
  pmb_link_anchor(pymm-bench-objects-jansson JANSSON)
endif()

if(PMB_HAVE_CJSON)
  pmb_add_objects_worker(cjson CJSON JSON)
  pmb_link_anchor(pymm-bench-objects-cjson CJSON)
endif()

# CPython's dict through its C API, from the libpython python3-config
# describes (the same one the pymalloc worker links).
if(PMB_HAVE_PYMALLOC)
  pmb_add_objects_worker(cpython-capi CPYTHON DICT)
  target_compile_options(pymm-bench-objects-cpython-capi PRIVATE ${PMB_PY_INCLUDES})
  target_link_libraries(pymm-bench-objects-cpython-capi PRIVATE ${PMB_PY_LDFLAGS})
endif()

# ---- The driver ---------------------------------------------------------------

target_sources(pymm_bench PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/objects_suite.c
  ${CMAKE_CURRENT_LIST_DIR}/objects_jsongen.c
  ${CMAKE_CURRENT_LIST_DIR}/objects_table.c)
target_compile_definitions(pymm_bench PRIVATE
  PMB_HAVE_BOEHM=${PMB_HAVE_BOEHM}
  PMB_HAVE_JANSSON=${PMB_HAVE_JANSSON}
  PMB_HAVE_CJSON=${PMB_HAVE_CJSON}
  PMB_JSON_CORPUS_DIR="${PMB_JSON_CORPUS_DIR}")
