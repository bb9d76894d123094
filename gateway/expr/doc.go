// Package expr compiles and evaluates APIM policy expressions: the C# subset written as
// "@( expression )" or "@{ statements }" in policy attributes and element text.
//
// Place in the data flow (docs/design.md §1): the gateway routes a request, fills a pooled
// [Context] (the `context` object expressions read), and runs the compiled policy program of
// package policy; that program evaluates the [Expr] values compiled here when the configuration
// was loaded. Expressions are parsed and type-checked once, at load time, into a tree of
// closures; evaluating one allocates nothing for the routing cases (comparisons, lookups in the
// query, headers, matched parameters and variables, status codes and errors) because strings
// are passed around as byte views into the request, the compiled program or the context's
// per-request arena.
//
// Type errors and unknown members are load-time [*CompileError] values formatted as
// "file:line:col: message". A failure while evaluating (int.Parse of "abc", a missing
// variable, a null receiver) is an [*EvalError] whose reason is APIM's
// ExpressionValueEvaluationFailure; evaluation never panics.
//
// Deliberate differences from C#: comparing an object (a variable) with a string, or two byte[]
// (digests), compares the values, not references; `+` on int wraps at 32 bits (unchecked, like C#'s default); strings are
// UTF-8 bytes, with Length, Substring and IndexOf counted in UTF-16 units as in .NET; the text the
// expressions of one request build (concatenation, Replace, string.Format, ...) is capped at
// 16 MiB, past which evaluation fails instead of exhausting memory. C# constructs outside the
// supported subset (new, lambdas, is/as, Body, JObject, Random, ...) are load errors saying
// "not supported by sfgate" at the construct.
package expr
