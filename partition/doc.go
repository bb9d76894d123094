// Package partition models the partition scheme of one Service Fabric service and maps a
// partition key taken from a request to the partition that holds it.
//
// Place in the data flow (docs/design.md §1, step 3): the resolver reads a service's
// partitions once (GetPartitions) and builds an immutable [Scheme] with [NewScheme]; it caches
// the Scheme per service. For every request the gateway hands the raw key bytes (from a header,
// query value or path segment) to [Scheme.Find], which parses the key for the service's scheme
// kind and binary-searches the sorted partitions without allocating. The resolver then resolves
// the partition (not the key value) with ResolvePartition, using [Scheme.Representative] as the
// key it sends to the cluster, so all keys of one partition share one naming call and one cache
// entry.
//
// Schemes (SF PartitionKeyType 1/2/3):
//   - [Singleton]: one partition; the key is ignored.
//   - [Int64Range]: partitions own inclusive ranges LowKey..HighKey of int64; a key is a
//     decimal int64 with an optional leading '+' or '-', no spaces, no underscores (exactly what
//     strconv.ParseInt(s, 10, 64) accepts). Ranges need not cover all of int64: a key in a gap is
//     [ErrOutOfRange].
//   - [Named]: partitions have unique non-empty names; the key bytes are the name (compared
//     byte for byte, case-sensitive, as SF does).
//
// A backend may hash string keys into Int64Range keys first ([KeyHash]: md5-int64 or fnv1a-64, each the
// same number as stated .NET code, docs/policies.md "String partition keys").
//
// Errors are *[KeyError] values wrapping one of [ErrNotInteger], [ErrOutOfRange],
// [ErrUnknownName] or [ErrKindMismatch]; their messages name the value and what would have fit.
// This package imports only the standard library.
package partition
