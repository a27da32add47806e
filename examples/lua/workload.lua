-- workload.lua: a Lua program of ours that exercises what a Lua host's
-- allocator sees (tables growing and shrinking, strings, closures,
-- coroutines, metatables, the collector); its output must be the same
-- under lua5.4 and under examples/lua/lua_pymm.c.
local t = {}
for i = 1, 200000 do t[i] = i * i end
local sum = 0
for i = 1, #t, 7 do sum = sum + t[i] end
print("squares", #t, sum)

local words = {}
for w in ("the quick brown fox jumps over the lazy dog the end"):gmatch("%a+") do
  words[w] = (words[w] or 0) + 1
end
local keys = {}
for k in pairs(words) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do io.write(k, "=", words[k], " ") end
print()

local parts = {}
for i = 1, 20000 do parts[#parts + 1] = string.format("%05d", i) end
local big = table.concat(parts, ",")
print("concat", #big, big:sub(1, 17), big:sub(-11))

local function counter()
  local n = 0
  return function() n = n + 1; return n end
end
local closures = {}
for i = 1, 1000 do closures[i] = counter() end
local total = 0
for i = 1, 1000 do for _ = 1, i % 5 do total = total + closures[i]() end end
print("closures", total)

local gen = coroutine.wrap(function()
  for i = 1, 10 do coroutine.yield(i * 3) end
end)
local ys = {}
for _ = 1, 10 do ys[#ys + 1] = gen() end
print("coroutine", table.concat(ys, " "))

local V = {}
V.__index = V
V.__add = function(a, b) return setmetatable({x = a.x + b.x, y = a.y + b.y}, V) end
local acc = setmetatable({x = 0, y = 0}, V)
for i = 1, 50000 do acc = acc + setmetatable({x = i, y = -i}, V) end
print("vectors", acc.x, acc.y)

for round = 1, 5 do
  local garbage = {}
  for i = 1, 30000 do garbage[i] = {i, tostring(i), {}} end
  garbage = nil
  collectgarbage("collect")
end
t = nil
collectgarbage("collect")
print("collected", collectgarbage("count") < 10000)
print("args", arg and #arg or 0, arg and arg[1] or "none")
