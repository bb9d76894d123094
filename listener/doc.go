// Package listener turns the endpoints of one resolved Service Fabric partition into the URL a
// request is forwarded to.
//
// Place in the data flow (docs/design.md §1, step 3): after a ResolvePartition call the
// resolver builds one immutable [Set] per partition with [NewSet] from the response's
// Endpoints[] (Kind → [Role] via [ParseRole], Address → [Listeners] via [ParseAddress]), and
// stores it in its snapshot. Per request the gateway calls [Set.Select] with the replica type
// (sf-replica-type) and the listener name (sf-listener-name); Select picks a replica and a
// listener without allocating and without parsing.
//
// Address rules (docs/servicefabric.md §4), applied once by [ParseAddress]:
//   - "" (or only white space): no listeners, no error (typical of stateful secondaries).
//   - Text starting with '{': must be {"Endpoints":{"name":"address",...}} (encoding/json, so
//     the \/ escapes of SF's .NET serializer are decoded); anything else is an error.
//   - Anything else (a bare URL such as "http://10.0.0.5:8080", a guest executable's
//     "10.0.0.4:8080", a remoting "host:port+pid-rid"): one listener named "" whose value is the
//     trimmed string as is. Only an http:// or https:// value is ever chosen without naming it,
//     so a non-URL address is reachable only by asking for the listener "" explicitly.
//
// Listener choice (compatible with the SF reverse proxy): a named listener matches exactly,
// then case-insensitively (first in ordinal order); no name picks the "" listener if it is an
// http(s) URL, else the http(s) listener with the lowest name in ordinal (byte) order, so ""
// sorts first and uppercase before lowercase.
//
// Replica choice (SF TargetReplicaSelector): [ReplicaPrimary] the primary; [ReplicaSecondary]
// a random secondary that published an address; [ReplicaAny] a random replica or stateless
// instance that published an address; [Default] is the primary for a stateful set and any
// instance for a stateless one, so load spreads over a stateless service's instances. Random
// choices use math/rand/v2. This package imports only the standard library.
package listener
