// Package gateway is the sfgate product: the fasthttp server that takes a client request through every step of
// the data flow (docs/design.md §1) and the admin listener beside it.
//
//	client ─▶ serveHTTP
//	            1. route (gateway/route): API by longest path prefix, operation by method + URL template
//	            2. policy (gateway/policy): inbound section → Target (base-url, or backend-id + sf-* values)
//	            3. Forward (this package, policy.Forwarder), once per <forward-request>:
//	                 HTTP target: base + path after the API suffix + query (gateway/forwardurl), one attempt
//	                 SF target:   resolver.Resolve(service, key) → listener.Set.Select(replica, listener)
//	                              → send → sf-resolve-condition(context.Response, context.LastError)?
//	                              → Invalidate(seen Version) → backoff → resend, ≤ maxPartitionResolutionRetries
//	            4. outbound section → response; on error: on-error section, else a JSON error
//
// The retry loop in Forward is the only retry layer: fasthttp's HostClient makes exactly one attempt per call,
// and the resolver retries only naming calls. The request body is buffered by the server and resent intact on
// every attempt; a non-idempotent request is resent only after a connect failure (it provably never reached
// the service) or when the user's sf-resolve-condition asks. When retries run out the last backend response is
// returned (APIM behaviour), or a 502/503/504 JSON error when no attempt got one. Endpoints a re-resolution
// replaced lose their pooled connections at once. Bodies past limits.bufferBodyBytes stream: a request's rest as
// the client sends it (body.go), a response's as the client's response is written (respstream.go); upgraded
// connections are tunnelled (upgrade.go).
//
// Performance: one fasthttp.HostClient (keep-alive pool) per endpoint, found through a copy-on-write map; a
// pooled per-request state (policy context, buffers, outgoing request, two response buffers) that is also the
// request's context.Context; no allocation per request in steady state for a GET through policies like the
// APIM documentation's examples (TestSteadyStateAllocations).
//
// Errors map to statuses as docs/design.md §4 says: no route 404; bad partition key or attribute 400 naming the
// attribute and value; service not found 404 with SF's code; naming unreachable with nothing cached 503; no
// usable endpoint after all re-resolutions 503; backend connection failure 502, timeout 504; expression failure
// 500 (ExpressionValueEvaluationFailure). Bodies are {"error":{"status","code","message","attribute","value",
// "fabricCode","requestId"}}.
//
// A Gateway holds the current compiled configuration behind an atomic pointer: Reload compiles a new one and
// swaps it only if it compiled, keeping the resolvers (and their caches) of clusters that did not change.
// Resolvers are shared by every backend naming the same cluster (management endpoints + credentials).
package gateway
