package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Listeners is one replica's parsed Address: listener name → address (normally a URL), sorted
// by name in ordinal (byte) order. The zero value has no listeners. Listeners is immutable and
// safe for concurrent use.
type Listeners struct {
	names []string
	urls  []string
	def   int // index of the Default listener, -1 if none; valid only when names != nil
}

// ErrAddress is wrapped by every ParseAddress error.
var ErrAddress = errors.New("malformed endpoint address")

// maxShownAddress caps how much of a bad address an error message quotes.
const maxShownAddress = 120

// ParseAddress parses a replica's published Address (see the package documentation for the
// rules): {"Endpoints":{...}} JSON (with \/ escapes), a bare address (→ listener ""), or ""
// (→ no listeners, no error). Text that starts with '{' but is not that JSON shape is an error
// wrapping ErrAddress.
func ParseAddress(addr string) (Listeners, error) {
	s := strings.TrimSpace(addr)
	if s == "" {
		return Listeners{}, nil
	}
	if s[0] != '{' {
		return newListeners([]string{""}, []string{s}), nil
	}
	var doc struct {
		Endpoints *map[string]string
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return Listeners{}, fmt.Errorf("listener: %w %s: want {\"Endpoints\":{\"name\":\"url\",...}}: %v",
			ErrAddress, quoteCapped(s), err)
	}
	if doc.Endpoints == nil {
		return Listeners{}, fmt.Errorf("listener: %w %s: no \"Endpoints\" object; want {\"Endpoints\":{\"name\":\"url\",...}}",
			ErrAddress, quoteCapped(s))
	}
	m := *doc.Endpoints
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	urls := make([]string, len(names))
	for i, name := range names {
		urls[i] = m[name]
	}
	return newListeners(names, urls), nil
}

func newListeners(names, urls []string) Listeners {
	l := Listeners{names: names, urls: urls, def: -1}
	for i, u := range urls { // names are sorted, so "" (if present) is index 0 and wins when http(s)
		if isHTTP(u) {
			l.def = i
			break
		}
	}
	return l
}

func quoteCapped(s string) string {
	if len(s) > maxShownAddress {
		return strconv.Quote(s[:maxShownAddress]) + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return strconv.Quote(s)
}

// isHTTP reports whether u starts with http:// or https:// (scheme case-insensitive) and has
// something after it.
func isHTTP(u string) bool {
	const h, hs = "http://", "https://"
	return len(u) > len(h) && strings.EqualFold(u[:len(h)], h) ||
		len(u) > len(hs) && strings.EqualFold(u[:len(hs)], hs)
}

// Len returns the number of listeners.
func (l Listeners) Len() int { return len(l.names) }

// Names returns the listener names in ordinal order (a copy).
func (l Listeners) Names() []string { return append([]string(nil), l.names...) }

// At returns listener i in ordinal order, 0 <= i < Len(), without allocating.
func (l Listeners) At(i int) (name, url string) { return l.names[i], l.urls[i] }

// Lookup returns the address of the listener called name: an exact match, else the first
// case-insensitive match in ordinal order. The address is returned as published, whatever its
// scheme.
func (l Listeners) Lookup(name string) (url string, ok bool) {
	if i := l.index(name); i >= 0 {
		return l.urls[i], true
	}
	return "", false
}

func (l Listeners) index(name string) int {
	if i := sort.SearchStrings(l.names, name); i < len(l.names) && l.names[i] == name {
		return i
	}
	for i, n := range l.names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// Default returns the listener used when none is named: "" if present and an http(s) URL,
// else the http(s) listener with the lowest name in ordinal order.
func (l Listeners) Default() (url string, ok bool) {
	if len(l.names) == 0 || l.def < 0 {
		return "", false
	}
	return l.urls[l.def], true
}

// Pick returns Default() for name == "" and Lookup(name) otherwise. Its error is a
// *ListenerError (errors.Is ErrNoListener) that lists the published listeners.
func (l Listeners) Pick(name string) (string, error) {
	if u, ok := l.pick(name); ok {
		return u, nil
	}
	return "", &ListenerError{Name: name, Published: l.describe()}
}

func (l Listeners) pick(name string) (string, bool) {
	if name == "" {
		return l.Default()
	}
	return l.Lookup(name)
}

// maxListed caps how many listeners an error message lists.
const maxListed = 8

// describe lists the listeners for an error message: "" and "Admin" as `"": "http://…"`.
func (l Listeners) describe() string {
	if len(l.names) == 0 {
		return "none"
	}
	var b strings.Builder
	n := min(len(l.names), maxListed)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(l.names[i]))
		b.WriteString(": ")
		b.WriteString(quoteCapped(l.urls[i]))
	}
	if rest := len(l.names) - n; rest > 0 {
		fmt.Fprintf(&b, ", … (%d more)", rest)
	}
	return b.String()
}
