// Package policy loads APIM policy documents and runs them per request.
//
// Place in the data flow (docs/design.md §1): when the configuration is loaded, the gateway parses
// every policy document ([Parse]: the expression-aware pre-pass that accepts APIM's raw
// attribute syntax, {{named value}} substitution, XML, compilation of every policy and of every
// expression with package expr) and merges the scopes of each operation at <base/> into an
// immutable [Program] ([Compile]). Per request, after routing, the gateway runs the program's
// sections against its pooled expr.Context and a [Result]:
//
//	Inbound  → Result.Target (set-backend-service: base-url or backend-id and the sf-* values),
//	           edits of the request (set-header, set-query-parameter, rewrite-uri), variables,
//	           or Result.Return (return-response);
//	Backend  → retry / choose / set-backend-service around forward-request, which calls the
//	           gateway's [Forwarder]; the forwarder evaluates Target.ResolveCondition after each
//	           Service Fabric attempt;
//	Outbound → response header edits; OnError → after any error, with context.LastError set.
//
// Supported policies: base, choose/when/otherwise, set-backend-service, set-variable,
// set-header, set-query-parameter, rewrite-uri, return-response (set-status, set-header,
// set-body), forward-request and retry (backend section only: its waits are cancelled through
// the context Backend receives), rate-limit, rate-limit-by-key, quota-by-key and limit-concurrency
// (limits.go; the gateway calls Result.FinishLimits once the answer is known), and the access-control
// policies check-header, ip-filter and validate-client-certificate (access.go; revocation lists fetched in crl.go)
// and validate-jwt (jwt.go, keys from OpenID providers in jwks.go). A refusal by any of them is a [LimitError]. Any other
// element is a load error naming it and its line.
//
// Differences from APIM worth knowing: a missing section inherits its parent's (at global scope,
// APIM's default section: a global document without <backend> still forwards); `object ==
// string` compares values, not references; a set-backend-service with base-url placed after an
// inherited backend-id one is rejected at load time rather than silently ignored at run time.
package policy
