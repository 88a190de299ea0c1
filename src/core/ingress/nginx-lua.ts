/**
 * The Lua that lets nginx take endpoint changes without a reload (the ingress-nginx model, in
 * weft's own words), and the text format the controller posts the endpoints in.
 *
 * Why: `nginx -s reload` starts new workers and tells the old ones to finish their requests and
 * close their idle keep-alive connections; a client that sends its next request on such a
 * connection just as the old worker closes it sees the connection reset (HTTP/1.1 lets it retry,
 * wrk and many others do not). Pods come and go far more often than Ingresses change, so endpoint
 * changes must not reload: every upstream is one placeholder server whose peer is chosen per
 * request by `balancer_by_lua_block` from that upstream's endpoint list in a shared dict (memory
 * shared by every worker, kept across reloads), and the controller replaces the lists through a
 * `content_by_lua_block` on 127.0.0.1 inside the pod (not reachable from outside the pod: the
 * pod's loopback is its own network namespace's).
 *
 * - Peers are picked round robin per worker. On a connection error or timeout
 *   (`proxy_next_upstream error timeout`) nginx calls the balancer again and it takes the next
 *   endpoint of the list, up to 3 tries in all (`set_more_tries`), never the one that just failed
 *   when there is another.
 * - A backend with no ready endpoint answers 503 from the access phase (`ngx.exit` inside the
 *   balancer can only make a 500): one http-level block reads the location's upstream from
 *   $weft_upstream.
 * - /healthz answers 503 until the first list has been posted, so a new pod is Ready only once
 *   it can route.
 *
 * The Lua runs in nginx's workers: lua-nginx-module 0.10.23 with lua-resty-core (Debian's
 * libnginx-mod-http-lua). References: https://github.com/openresty/lua-nginx-module#balancer_by_lua_block
 * and lua-resty-core's ngx.balancer (set_current_peer, set_more_tries, get_last_failure).
 */

/** The shared dict holding the endpoint lists (one key per upstream name). */
export const ENDPOINTS_DICT = 'weft_endpoints';
/** The key set once the controller has posted a first list (not an upstream name: those have no `@`). */
const READY_KEY = '@ready';
/** The path the controller posts the endpoint lists to, on 127.0.0.1:ports.balancer. */
export const ENDPOINTS_PATH = '/endpoints';

/**
 * The init_by_lua_block body: defines the global table `weft` each worker inherits. Written
 * without braces inside strings or comments, which nginx's block parser would count.
 */
export const LUA_INIT = `
    local dict = ngx.shared.${ENDPOINTS_DICT}
    local balancer = require("ngx.balancer")
    local parsed = {}
    local turn = {}
    weft = {}
    -- The endpoint list of an upstream, parsed once per change of its text; nil when it has none.
    function weft.peers(name)
      local text = dict:get(name)
      if text == nil or text == "" then return nil end
      local p = parsed[name]
      if p == nil or p.text ~= text then
        local list = {}
        for host, port in string.gmatch(text, "([^,]+):(%d+)") do
          list[#list + 1] = { host = host, port = tonumber(port) }
        end
        p = { text = text, list = list }
        parsed[name] = p
      end
      if #p.list == 0 then return nil end
      return p.list
    end
    -- Access phase: 503 when the location's upstream has no ready endpoint (name nil or empty:
    -- a location that does not proxy).
    function weft.require_endpoints(name)
      if name == nil or name == "" then return end
      if weft.peers(name) == nil then return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE) end
    end
    -- Balancer phase: the next endpoint (round robin), or after a failed try the one after it.
    function weft.balance(name)
      local peers = weft.peers(name)
      if peers == nil then return ngx.exit(ngx.ERROR) end
      local ctx = ngx.ctx
      local i
      if ctx.weft_index == nil then
        i = (turn[name] or 0) % #peers + 1
        turn[name] = i
        if #peers > 1 then balancer.set_more_tries(math.min(#peers, 3) - 1) end
      else
        i = ctx.weft_index % #peers + 1
      end
      ctx.weft_index = i
      local ok, err = balancer.set_current_peer(peers[i].host, peers[i].port)
      if not ok then
        ngx.log(ngx.ERR, "weft: set peer of ", name, ": ", err)
        return ngx.exit(ngx.ERROR)
      end
    end
    -- POST ${ENDPOINTS_PATH}: the whole set, one line per upstream, the name then its endpoints.
    -- Upstreams not named are removed.
    function weft.post_endpoints()
      if ngx.req.get_method() ~= "POST" then return ngx.exit(ngx.HTTP_NOT_ALLOWED) end
      ngx.req.read_body()
      local body = ngx.req.get_body_data()
      if body == nil and ngx.req.get_body_file() ~= nil then
        ngx.status = ngx.HTTP_REQUEST_ENTITY_TOO_LARGE
        ngx.say("the lists are larger than client_body_buffer_size")
        return ngx.exit(ngx.status)
      end
      -- No body at all: no upstream (nginx gives nil for an empty body).
      body = body or ""
      local named = {}
      for line in string.gmatch(body, "[^\\n]+") do
        local name, list = string.match(line, "^(%S+) ?(.*)$")
        if name ~= nil then
          local ok, err = dict:safe_set(name, list)
          if not ok then
            ngx.status = ngx.HTTP_INSUFFICIENT_STORAGE
            ngx.say("store the endpoints of ", name, ": ", err)
            return ngx.exit(ngx.status)
          end
          named[name] = true
        end
      end
      for _, key in ipairs(dict:get_keys(0)) do
        if not named[key] and key ~= "${READY_KEY}" then dict:delete(key) end
      end
      dict:set("${READY_KEY}", true)
      ngx.say("ok")
    end
    function weft.healthz()
      if dict:get("${READY_KEY}") == nil then
        ngx.status = ngx.HTTP_SERVICE_UNAVAILABLE
        ngx.say("no endpoints posted yet")
        return ngx.exit(ngx.status)
      end
      ngx.say("ok")
    end
`;

/** Upstream name → its endpoints ("ip:port", sorted). */
export type EndpointLists = Readonly<Record<string, readonly string[]>>;

/** The body of a POST to ENDPOINTS_PATH: one line per upstream, sorted, so equal sets give equal text. */
export function endpointsBody(lists: EndpointLists): string {
  return Object.keys(lists)
    .sort()
    .map((name) => `${name} ${[...(lists[name] ?? [])].join(',')}\n`)
    .join('');
}

/** Both sets in one: `next`'s lists, and `previous`'s for the upstreams only it names. */
export function mergeEndpointLists(previous: EndpointLists, next: EndpointLists): EndpointLists {
  return { ...previous, ...next };
}
