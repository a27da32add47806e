/*
 * lua_pymm.c -- a Lua 5.4 host whose lua_Alloc is a pymm heap: it runs
 * the script named on its command line as the stock `lua5.4` would (the
 * standard libraries, `arg`, errors on stderr with status 1), then closes
 * the state and checks that the heap holds no block: Lua gave back
 * everything it took.
 *
 * A Lua state is used by one thread, so the heap is a private one (no
 * locks, the private fast paths). Lua's allocator contract: nsize 0
 * frees; otherwise a resize, and one that shrinks must not fail, so a
 * shrink the heap cannot move keeps the old, larger block.
 */
#include <pymm.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>

static void *pymm_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    pm_heap *heap = ud;
    if (nsize == 0) {
        pm_heap_free(heap, ptr);
        return NULL;
    }
    void *p = pm_heap_realloc(heap, ptr, nsize);
    if (p == NULL && ptr != NULL && nsize <= osize) return ptr; /* a shrink never fails */
    return p;
}

/* The script's `arg` table, as lua5.4 makes it: arg[0] the script. */
static void set_arg(lua_State *L, int argc, char **argv) {
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [ARGS...]\n", argv[0]);
        return 2;
    }
    pm_heap *heap = pm_heap_new(NULL);
    lua_State *L = heap ? lua_newstate(pymm_lua_alloc, heap) : NULL;
    if (L == NULL) {
        fprintf(stderr, "%s: cannot make a Lua state on a pymm heap\n", argv[0]);
        return 1;
    }
    luaL_openlibs(L);
    set_arg(L, argc, argv);
    int status = luaL_dofile(L, argv[1]);
    if (status != LUA_OK) fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    fflush(stdout);
    lua_close(L);
    pm_heap_stats s;
    pm_heap_get_stats(heap, &s);
    if (s.pools_used != 0 || s.large_blocks != 0) {
        fprintf(stderr, "%s: %llu pools and %llu large blocks still in use after lua_close\n",
                argv[0], (unsigned long long)s.pools_used, (unsigned long long)s.large_blocks);
        status = LUA_ERRMEM;
    }
    pm_heap_destroy(heap);
    return status == LUA_OK ? 0 : 1;
}
