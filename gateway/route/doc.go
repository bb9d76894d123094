// Package route is step 1 of the gateway's data flow (docs/design.md §1): it matches a request to an API by the
// longest segment-aware path prefix (the API URL suffix) and to one of the API's operations by method and URL
// template ("{param}" segments, a final "*" or "{*rest}"), filling the operation's matched parameters.
//
// A Table is built once per configuration and is immutable; Match does not allocate when the caller passes
// reused parameter and decode buffers. The gateway package owns the Table and answers a failed match with 404.
package route
