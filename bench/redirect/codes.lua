-- wrk script: each request a random code from CODES_FILE under PATH_PREFIX, with a real iPhone user agent.
local codes = {}
local prefix = os.getenv("PATH_PREFIX") or "/l/"
for line in io.lines(os.getenv("CODES_FILE")) do
  codes[#codes + 1] = line
end
wrk.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

function request()
  return wrk.format("GET", prefix .. codes[math.random(#codes)])
end
