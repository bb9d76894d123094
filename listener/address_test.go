package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// sfPrimaryAddress is the inner Address string of SF's ResolvePartition example (docs/servicefabric.md §2):
// the .NET serializer escapes '/' as '\/'.
const sfPrimaryAddress = `{"Endpoints":{"":"http:\/\/10.0.0.4:20012\/8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00\/133512345678901235"}}`

const sfTwoListeners = `{"Endpoints":{"":"http:\/\/10.0.0.4:8080","Admin":"https:\/\/10.0.0.4:8443"}}`

func mustParse(t testing.TB, addr string) Listeners {
	t.Helper()
	l, err := ParseAddress(addr)
	if err != nil {
		t.Fatalf("ParseAddress(%q): %v", addr, err)
	}
	return l
}

func pairs(l Listeners) []string {
	var out []string
	for i := range l.Len() {
		n, u := l.At(i)
		out = append(out, n+"="+u)
	}
	return out
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
		want []string // name=url in order
	}{
		{"SF JSON with escaped slashes", sfPrimaryAddress, []string{"=http://10.0.0.4:20012/8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00/133512345678901235"}},
		{"two listeners", sfTwoListeners, []string{"=http://10.0.0.4:8080", "Admin=https://10.0.0.4:8443"}},
		{"ordinal order: empty first, uppercase before lowercase", `{"Endpoints":{"b":"http://b","a":"http://a","B":"http://B","":"x","Ä":"http://ae"}}`,
			[]string{"=x", "B=http://B", "a=http://a", "b=http://b", "Ä=http://ae"}},
		{"guest executable endpoints", `{"Endpoints":{"WebEndpoint":"10.0.0.4:8080","ApiEndpoint":"http:\/\/10.0.0.4:8081\/api"}}`,
			[]string{"ApiEndpoint=http://10.0.0.4:8081/api", "WebEndpoint=10.0.0.4:8080"}},
		{"empty Endpoints object", `{"Endpoints":{}}`, nil},
		{"extra top-level fields ignored", `{"Version":1,"Endpoints":{"":"http://h"}}`, []string{"=http://h"}},
		{"surrounding white space", " \n" + sfTwoListeners + "\t", []string{"=http://10.0.0.4:8080", "Admin=https://10.0.0.4:8443"}},
		{"bare URL", "http://10.0.0.5:8080", []string{"=http://10.0.0.5:8080"}},
		{"bare URL trimmed", "  https://10.0.0.5:8443/x \r\n", []string{"=https://10.0.0.5:8443/x"}},
		{"guest executable without scheme", "10.0.0.4:8080", []string{"=10.0.0.4:8080"}},
		{"remoting", "10.0.0.4:20001+8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00-133512345678901235",
			[]string{"=10.0.0.4:20001+8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00-133512345678901235"}},
		{"empty", "", nil},
		{"white space only", " \t\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustParse(t, tc.addr)
			if got := pairs(l); !slices.Equal(got, tc.want) {
				t.Fatalf("listeners %q, want %q", got, tc.want)
			}
			if l.Len() != len(tc.want) || len(l.Names()) != len(tc.want) {
				t.Fatalf("Len %d, Names %q, want %d", l.Len(), l.Names(), len(tc.want))
			}
		})
	}
}

func TestParseAddressRejectsMalformedJSON(t *testing.T) {
	for _, tc := range []struct {
		addr, want string
	}{
		{`{`, "unexpected end of JSON input"},
		{`{"Endpoints":{"":"http://h"}`, "unexpected end of JSON input"},
		{`{"Endpoints":5}`, "cannot unmarshal number"},
		{`{"Endpoints":{"a":1}}`, "cannot unmarshal number"},
		{`{"Endpoints":{"a":null}}x`, "invalid character 'x' after top-level value"},
		{`{}`, `no "Endpoints" object`},
		{`{"Endpoints":null}`, `no "Endpoints" object`},
		{`{"Listeners":{"":"http://h"}}`, `no "Endpoints" object`},
	} {
		l, err := ParseAddress(tc.addr)
		if err == nil {
			t.Errorf("ParseAddress(%q) = %q, want an error", tc.addr, pairs(l))
			continue
		}
		if !errors.Is(err, ErrAddress) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), fmt.Sprintf("%q", tc.addr)) || !strings.Contains(err.Error(), `want {"Endpoints":`) {
			t.Errorf("ParseAddress(%q) error %q: want ErrAddress naming the input, the cause %q and the expected shape", tc.addr, err, tc.want)
		}
	}
	long := `{"Endpoints":{"a":"` + strings.Repeat("x", 500)
	_, err := ParseAddress(long)
	if err == nil || len(err.Error()) > 400 || !strings.Contains(err.Error(), "bytes)") {
		t.Errorf("a long bad address should be quoted capped: %v", err)
	}
}

func TestDefault(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
		ok               bool
	}{
		{"empty-name listener", sfTwoListeners, "http://10.0.0.4:8080", true},
		{"empty-name listener wins over lower-sorted? none sorts lower", `{"Endpoints":{"A":"http://a","":"https://e"}}`, "https://e", true},
		{"empty-name not http falls back to lowest ordinal http", `{"Endpoints":{"":"10.0.0.4:8080","b":"http://b","Z":"ftp://z","a":"http://a"}}`, "http://a", true},
		{"uppercase sorts before lowercase", `{"Endpoints":{"b":"http://b","B":"http://B"}}`, "http://B", true},
		{"scheme is case-insensitive", `{"Endpoints":{"x":"HTTPS://h:1"}}`, "HTTPS://h:1", true},
		{"scheme without host is not usable", `{"Endpoints":{"a":"http://","b":"https://"}}`, "", false},
		{"bare URL", "http://10.0.0.5:8080", "http://10.0.0.5:8080", true},
		{"guest executable address is never a default", "10.0.0.4:8080", "", false},
		{"remoting address is never a default", "10.0.0.4:20001+p-r", "", false},
		{"httpx is not http", `{"Endpoints":{"":"httpx://h"}}`, "", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mustParse(t, tc.addr).Default()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Default() = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	var zero Listeners
	if u, ok := zero.Default(); ok || u != "" {
		t.Fatalf("zero Listeners Default() = %q, %v", u, ok)
	}
}

func TestLookup(t *testing.T) {
	l := mustParse(t, `{"Endpoints":{"admin":"http://lower","Admin":"http://title","Web":"http://web","":"10.0.0.4:1"}}`)
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"admin", "http://lower", true}, // exact beats case-insensitive
		{"Admin", "http://title", true},
		{"ADMIN", "http://title", true}, // first case-insensitive match in ordinal order ("Admin" < "admin")
		{"web", "http://web", true},
		{"WEB", "http://web", true},
		{"", "10.0.0.4:1", true}, // "" is a real name; Lookup returns it whatever its scheme
		{"Missing", "", false},
		{"Webs", "", false},
	} {
		got, ok := l.Lookup(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPick(t *testing.T) {
	l := mustParse(t, sfTwoListeners)
	for name, want := range map[string]string{"": "http://10.0.0.4:8080", "Admin": "https://10.0.0.4:8443", "admin": "https://10.0.0.4:8443"} {
		if got, err := l.Pick(name); err != nil || got != want {
			t.Errorf("Pick(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	_, err := l.Pick("Metrics")
	want := `listener "Metrics" not published by the replica (published: "": "http://10.0.0.4:8080", "Admin": "https://10.0.0.4:8443")`
	var le *ListenerError
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoListener) || !errors.As(err, &le) || le.Name != "Metrics" {
		t.Errorf("Pick(Metrics) error:\n got %v\nwant %s", err, want)
	}
	_, err = mustParse(t, "10.0.0.4:8080").Pick("")
	want = `no http(s) listener published by the replica; name a listener (published: "": "10.0.0.4:8080")`
	if err == nil || err.Error() != want {
		t.Errorf("Pick(\"\") on a guest address:\n got %v\nwant %s", err, want)
	}
	_, err = Listeners{}.Pick("x")
	if want := `listener "x" not published by the replica (published: none)`; err == nil || err.Error() != want {
		t.Errorf("Pick on empty:\n got %v\nwant %s", err, want)
	}
	many := `{"Endpoints":{"a":"1","b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8","i":"9","j":"10"}}`
	_, err = mustParse(t, many).Pick("z")
	if err == nil || !strings.HasSuffix(err.Error(), `"h": "8", … (2 more))`) {
		t.Errorf("Pick on many listeners should cap the list: %v", err)
	}
}

func TestNamesIsACopy(t *testing.T) {
	l := mustParse(t, sfTwoListeners)
	n := l.Names()
	n[0] = "changed"
	if got := l.Names(); got[0] != "" {
		t.Fatalf("Names() exposes internal state: %q", got)
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, seed := range []string{
		sfPrimaryAddress,
		sfTwoListeners,
		`{"Endpoints":{"WebEndpoint":"10.0.0.4:8080","ApiEndpoint":"http:\/\/10.0.0.4:8081\/api"}}`,
		`{"Endpoints":{"b":"http://b","B":"http://B","":"x"}}`,
		`{"Endpoints":{}}`,
		`{"Endpoints":{"a":1}}`,
		`{"Endpoints":null}`,
		`{"Endpoints":{"\u00e9":"http:\/\/h","\ud800":"https://x"}}`,
		"10.0.0.4:8080",
		"10.0.0.4:20001+8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00-133512345678901235",
		"",
		"http://10.0.0.5:8080",
		" https://h ",
		"{",
		"\xff{\"Endpoints\":{}}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		l, err := ParseAddress(addr)
		if err != nil {
			if !errors.Is(err, ErrAddress) || l.Len() != 0 {
				t.Fatalf("error %v (ErrAddress: %v) with %d listeners", err, errors.Is(err, ErrAddress), l.Len())
			}
			return
		}
		names := l.Names()
		if len(names) != l.Len() {
			t.Fatalf("Names() has %d, Len() %d", len(names), l.Len())
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("names not strictly ordinal-sorted: %q", names)
		}
		var wantDefault string
		for i, name := range names {
			n, u := l.At(i)
			if n != name {
				t.Fatalf("At(%d) name %q, Names()[%d] %q", i, n, i, name)
			}
			got, ok := l.Lookup(name)
			if !ok || got != u {
				t.Fatalf("Lookup(%q) = %q, %v; At(%d) says %q", name, got, ok, i, u)
			}
			if name != "" {
				if p, err := l.Pick(name); err != nil || p != u {
					t.Fatalf("Pick(%q) = %q, %v; want %q", name, p, err, u)
				}
			}
			if wantDefault == "" && isHTTP(u) {
				wantDefault = u
			}
		}
		def, ok := l.Default()
		if ok != (wantDefault != "") || def != wantDefault {
			t.Fatalf("Default() = %q, %v; want the first http(s) in ordinal order %q", def, ok, wantDefault)
		}
		if p, err := l.Pick(""); (err == nil) != ok || p != def {
			t.Fatalf("Pick(\"\") = %q, %v; Default %q, %v", p, err, def, ok)
		}
		// Shape oracle: JSON-looking input must be the Endpoints map; anything else one "" listener.
		trimmed := strings.TrimSpace(addr)
		switch {
		case trimmed == "":
			if l.Len() != 0 {
				t.Fatalf("empty address gave %d listeners", l.Len())
			}
		case trimmed[0] == '{':
			var doc struct{ Endpoints map[string]string }
			if err := json.Unmarshal([]byte(trimmed), &doc); err != nil || len(doc.Endpoints) != l.Len() {
				t.Fatalf("JSON oracle: %v, %d endpoints; parsed %d", err, len(doc.Endpoints), l.Len())
			}
			for name, u := range doc.Endpoints {
				if got, ok := l.Lookup(name); !ok || got != u {
					t.Fatalf("JSON oracle: %q=%q, Lookup says %q, %v", name, u, got, ok)
				}
			}
		default:
			if l.Len() != 1 || names[0] != "" {
				t.Fatalf("non-JSON address gave %q", names)
			}
			if _, u := l.At(0); u != trimmed {
				t.Fatalf("non-JSON address value %q, want %q", u, trimmed)
			}
		}
	})
}
